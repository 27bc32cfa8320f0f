#!/usr/bin/env node
// @ts-check
'use strict';
// `node scripts/run.js <script> [args]` runs scripts/<script>.ts (the tooling's commands: test, demo...) or, for a
// measurement, bench/<script>.ts; the way every npm script starts.
// Plain JavaScript, because it runs first: under the machine's Node (20 on this project's kind of machine) and, on a
// fresh clone, before node_modules exists. It installs the dependencies when they are missing or older than
// package-lock.json, moves to a Node 24 runtime (tools/node-runtime.js), then loads the script through the
// transpile-on-load hook (tools/ts-require.js, which needs the `typescript` package just installed). The script
// exports `main(args)`: a number it resolves is the exit code; nothing lets the process end on its own.
const { execSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const [name, ...args] = process.argv.slice(2);

function dependenciesInstalled() {
	const modules = path.join(root, 'node_modules');
	// A node_modules linked from another checkout (a git worktree) belongs to that checkout: never reinstalled from here.
	if (fs.existsSync(modules) && fs.lstatSync(modules).isSymbolicLink()) return true;
	const marker = path.join(modules, '.package-lock.json');
	return (
		fs.existsSync(marker) &&
		fs.statSync(marker).mtimeMs >= fs.statSync(path.join(root, 'package-lock.json')).mtimeMs
	);
}

/** @param {unknown} error */
function fail(error) {
	const message = error instanceof Error ? error.message : String(error);
	console.error(`\n${name ?? 'run.js'} failed: ${message}`);
	if (process.env.DEBUG && error instanceof Error) console.error(error.stack);
	process.exit(1);
}

function start() {
	const file =
		name &&
		['scripts', 'bench']
			.map((folder) => path.join(root, folder, `${name}.ts`))
			.find((candidate) => fs.existsSync(candidate));
	if (!file)
		throw new Error(
			'usage: node scripts/run.js <script> [args], where scripts/<script>.ts or bench/<script>.ts exports main(args)',
		);
	if (!dependenciesInstalled()) {
		process.stdout.write('\n> Installing dependencies (npm ci)\n');
		execSync('npm ci --no-audit --no-fund', { cwd: root, stdio: 'inherit' });
	}
	const { nodeRuntime, runWithRuntime } = require('../tools/node-runtime');
	if (nodeRuntime() !== process.execPath) {
		runWithRuntime([__filename, name, ...args]).then((code) => process.exit(code), fail);
		return;
	}
	require('../tools/ts-require');
	/** @type {{ main(args: string[]): Promise<number | void> }} */
	const script = require(file);
	if (typeof script.main !== 'function')
		throw new Error(`${path.relative(root, file)} exports no main(args)`);
	script.main(args).then((code) => {
		if (typeof code === 'number') process.exit(code);
	}, fail);
}

try {
	start();
} catch (error) {
	fail(error);
}
