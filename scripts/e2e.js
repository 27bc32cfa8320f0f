'use strict';
// npm run test:e2e → node scripts/e2e.js [jest args]
// Builds the package, makes sure the Node 24 runtime and the pinned n8n are installed (cached outside the clone,
// about 6 minutes the first time), then runs test/e2e with jest.e2e.config.js against a real n8n.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const repo = path.resolve(__dirname, '..');

function run(cmd, args) {
	const res = spawnSync(cmd, args, { cwd: repo, stdio: 'inherit' });
	if (res.status !== 0) process.exit(res.status || 1);
}

(async () => {
	if (!fs.existsSync(path.join(repo, 'node_modules', '.package-lock.json'))) run('npm', ['ci']);
	console.log('[e2e] building the package');
	run('npm', ['run', 'build', '--silent']);
	console.log(`[e2e] Node runtime for n8n: ${require('./node-runtime').nodeRuntime()}`);
	const { ensureN8n } = require('./n8n/install');
	const n8n = await ensureN8n({ log: (line) => console.log(`[e2e] ${line}`) });
	console.log(`[e2e] n8n ${n8n.version} ready`);
	run(process.execPath, [require.resolve('jest/bin/jest'), '-c', 'jest.e2e.config.js', '--runInBand', ...process.argv.slice(2)]);
})().catch((err) => {
	console.error(err);
	process.exit(1);
});
