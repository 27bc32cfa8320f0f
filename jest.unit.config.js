/**
 * `npm run test:unit`: the tests that need no database server (no PostgreSQL, no MariaDB), in seconds on any machine.
 * `npm test` runs them too, with the real-database suites (the integration layer).
 *
 * A test file needs a database server when it, or a module of test/ it imports, imports one of DATABASE_HELPERS
 * (type-only imports aside). The selection follows the imports, so a new test lands on the right side by itself;
 * and the database URLs point at a closed port, so a database reached any other way fails the run instead of
 * passing unnoticed.
 */
const fs = require('node:fs');
const path = require('node:path');
const base = require('./jest.config');

const TEST_ROOT = path.join(__dirname, 'test');
const DATABASE_HELPERS = ['helpers/postgres.ts', 'helpers/mysql.ts', 'stores/servers.ts'].map((file) => path.join(TEST_ROOT, file));
const RELATIVE_IMPORT = /^\s*(?:import|export)\s+(?!type\b)[^;]*?from\s+'(\.[^']+)'|require\('(\.[^']+)'\)/gm;

function resolveModule(from, specifier) {
	const target = path.resolve(path.dirname(from), specifier);
	return [target, `${target}.ts`, `${target}.js`, path.join(target, 'index.ts')].find((file) => fs.existsSync(file) && fs.statSync(file).isFile());
}

function needsDatabase(file, seen = new Set()) {
	if (DATABASE_HELPERS.includes(file)) return true;
	if (seen.has(file) || !file.startsWith(TEST_ROOT)) return false;
	seen.add(file);
	const source = fs.readFileSync(file, 'utf8');
	for (const match of source.matchAll(RELATIVE_IMPORT)) {
		const imported = resolveModule(file, match[1] ?? match[2]);
		if (imported && needsDatabase(imported, seen)) return true;
	}
	return false;
}

function testFiles(dir) {
	return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
		const full = path.join(dir, entry.name);
		if (entry.isDirectory()) return entry.name === 'e2e' ? [] : testFiles(full);
		return entry.name.endsWith('.test.ts') ? [full] : [];
	});
}

const unitTests = testFiles(TEST_ROOT).filter((file) => !needsDatabase(file));

module.exports = {
	...base,
	testMatch: unitTests,
	setupFiles: [...(base.setupFiles ?? []), '<rootDir>/test/helpers/no-database.ts'],
};
