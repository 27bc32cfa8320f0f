/** Resolves after `ms` milliseconds (at once for zero or less). */
export const sleep = (ms: number): Promise<void> =>
	new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
