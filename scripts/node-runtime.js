'use strict';
// n8n 2.x, supabase-js, nock and node:sqlite need Node >= 22.16; machines of this project's kind ship Node 20.
// The runtime comes from the npm registry's `node` package (through npx), so nothing is fetched elsewhere.
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REQUIRED = [24, 0]; // n8n 2.38+ requires 24; everything else here needs >= 22.16
const NODE_PACKAGE = 'node@24';
const cacheDir = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'n8n-oauth2-token-manager');

function satisfies(version) {
	const [major, minor] = version.replace(/^v/, '').split('.').map(Number);
	return major > REQUIRED[0] || (major === REQUIRED[0] && minor >= REQUIRED[1]);
}

/** Absolute path of a node binary n8n 2.x accepts, fetched from the npm registry when the machine lacks one. */
function nodeRuntime() {
	if (satisfies(process.version)) return process.execPath;
	const remembered = path.join(cacheDir, 'node-runtime-path');
	if (fs.existsSync(remembered)) {
		const cached = fs.readFileSync(remembered, 'utf8').trim();
		if (fs.existsSync(cached)) return cached;
	}
	process.stderr.write(`Fetching a Node.js runtime (${NODE_PACKAGE}) from the npm registry...\n`);
	const found = execFileSync('npx', ['-y', '-p', NODE_PACKAGE, 'node', '-p', 'process.execPath'], {
		encoding: 'utf8',
		stdio: ['ignore', 'pipe', 'inherit'],
	}).trim();
	fs.mkdirSync(cacheDir, { recursive: true });
	fs.writeFileSync(remembered, found);
	return found;
}

/** Runs `node <args>` under that runtime, inheriting stdio; resolves with the exit code. */
function runWithRuntime(args, options = {}) {
	const node = nodeRuntime();
	return new Promise((resolve, reject) => {
		const child = spawn(node, args, { stdio: 'inherit', ...options });
		child.on('error', reject);
		child.on('exit', (code, signal) => resolve(signal ? 1 : code));
	});
}

module.exports = { nodeRuntime, runWithRuntime, cacheDir };

if (require.main === module) {
	runWithRuntime(process.argv.slice(2)).then((code) => process.exit(code));
}
