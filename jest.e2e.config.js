/** End-to-end suite against a real n8n: run through `node scripts/e2e.js` (npm run test:e2e), never with the unit tests. */
module.exports = {
	testEnvironment: 'node',
	roots: ['<rootDir>/test/e2e'],
	testMatch: ['**/*.e2e.js', '**/*.e2e.ts'],
	// TypeScript the suite loads (the sandbox, the queue-mode launcher) is transpiled like the unit tests'
	transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
	testTimeout: 120000,
	maxWorkers: 1,
};
