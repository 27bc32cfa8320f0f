/**
 * `npm run test:unit`: the tests that need no database server (no PostgreSQL, no MariaDB), in seconds on any machine.
 * `npm test` runs them too, with the real-database suites (the integration layer).
 *
 * A test file that needs a database server says so in its name: `*.db.test.ts`; every other `*.test.ts` runs here.
 * The database URLs point at a closed port, so a test that reaches a database without the name fails the run
 * instead of passing unnoticed.
 */
const os = require('node:os');
const base = require('./jest.config');

module.exports = {
	...base,
	testPathIgnorePatterns: [...base.testPathIgnorePatterns, '\\.db\\.test\\.ts$'],
	setupFiles: [...(base.setupFiles ?? []), '<rootDir>/test/helpers/no-database.ts'],
	// At least two workers (Jest's default on two cores is one): the Node runtime test spends half a minute waiting
	// on the npm registry, and the second worker runs the other suites meanwhile.
	maxWorkers: Math.max(2, os.cpus().length - 1),
};
