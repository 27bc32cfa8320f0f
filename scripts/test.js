#!/usr/bin/env node
'use strict';
// `npm test`: sets itself up on a fresh machine (dependencies, build, a Node runtime the tests need),
// type-checks, then runs the Jest suites against the real databases of this machine.
// `npm run test:e2e`: the end-to-end suite against real n8n.
const { execSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { runWithRuntime } = require('./node-runtime');

const root = path.resolve(__dirname, '..');
const e2e = process.argv.includes('--e2e');
const jestArgs = process.argv.slice(2).filter((a) => a !== '--e2e');

function step(title, command) {
	process.stdout.write(`\n> ${title}\n`);
	execSync(command, { cwd: root, stdio: 'inherit' });
}

function installed() {
	const marker = path.join(root, 'node_modules', '.package-lock.json');
	return fs.existsSync(marker) && fs.statSync(marker).mtimeMs >= fs.statSync(path.join(root, 'package-lock.json')).mtimeMs;
}

async function main() {
	// The end-to-end runner does its own set-up (it also installs n8n).
	if (e2e) process.exit(await runWithRuntime([path.join(root, 'scripts', 'e2e.js'), ...jestArgs], { cwd: root }));
	if (!installed()) step('Installing dependencies (npm ci)', 'npm ci --no-audit --no-fund');
	step('Building (npm run build)', 'npm run build --silent');
	step('Type-checking sources and tests', 'npx tsc --noEmit -p tsconfig.json');
	const report = path.join(os.tmpdir(), `oauth2tm-jest-${process.pid}.json`);
	const args = [path.join(root, 'node_modules', 'jest', 'bin', 'jest.js'), '--json', `--outputFile=${report}`, ...jestArgs];
	if (process.env.CI) args.push('--ci');
	const code = await runWithRuntime(args, { cwd: root });
	if (fs.existsSync(report)) {
		const result = JSON.parse(fs.readFileSync(report, 'utf8'));
		fs.rmSync(report);
		console.log(`\njest: ${result.numPassedTests} passed, ${result.numFailedTests} failed`);
	}
	process.exit(code);
}

main().catch((error) => {
	console.error(error.message);
	process.exit(1);
});
