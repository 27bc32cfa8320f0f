'use strict';
// npm run bench → node scripts/bench.js
// Sets the machine up like the demo (dependencies, build, the Node 24 runtime and the pinned n8n, both cached outside
// the clone; PostgreSQL, MariaDB and Redis must be running), then runs bench/index.ts under that runtime.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { runWithRuntime } = require('./node-runtime');

const repo = path.resolve(__dirname, '..');

function run(cmd, args) {
	const res = spawnSync(cmd, args, { cwd: repo, stdio: 'inherit' });
	if (res.status !== 0) process.exit(res.status || 1);
}

(async () => {
	if (!fs.existsSync(path.join(repo, 'node_modules', '.package-lock.json'))) run('npm', ['ci', '--no-audit', '--no-fund']);
	console.log('[bench] building the package');
	run('npm', ['run', 'build', '--silent']);
	const { ensureN8n } = require('./n8n/install');
	const n8n = await ensureN8n({ log: (line) => console.log(`[bench] ${line}`) });
	console.log(`[bench] n8n ${n8n.version} ready`);
	process.exit(await runWithRuntime(['-r', path.join(__dirname, 'ts-require.js'), path.join(repo, 'bench', 'index.ts')], { cwd: repo }));
})().catch((error) => {
	console.error(error.message);
	process.exit(1);
});
