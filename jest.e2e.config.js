/** End-to-end suite against a real n8n: run through `npm run test:e2e` (it builds and installs n8n first), never with the unit tests. */
module.exports = {
	testEnvironment: 'node',
	roots: ['<rootDir>/test/e2e'],
	testMatch: ['**/*.e2e.js', '**/*.e2e.ts'],
	// TypeScript the suite loads (the n8n tooling, the sandbox, the queue-mode launcher) is transpiled on load;
	// `npm test` type-checks it.
	transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: false }] },
	testTimeout: 120000,
	maxWorkers: 1,
};
