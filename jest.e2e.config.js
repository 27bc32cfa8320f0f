/** End-to-end suite against a real n8n: run through `node scripts/e2e.js` (npm run test:e2e), never with the unit tests. */
module.exports = {
	testEnvironment: 'node',
	roots: ['<rootDir>/test/e2e'],
	testMatch: ['**/*.e2e.js'],
	transform: {},
	testTimeout: 120000,
	maxWorkers: 1,
};
