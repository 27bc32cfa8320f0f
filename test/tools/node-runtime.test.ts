import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

// `npm test` and `npm run demo` start under the machine's Node; tools/node-runtime.js must hand them a Node 24
// even on a fresh machine, from inside the project (whose .npmrc sets ignore-scripts), with two first runs at once.
const root = join(__dirname, '..', '..');
const run = promisify(execFile);

function systemNode(): { path: string; version: string } | null {
	try {
		const path = execFileSync('sh', ['-c', 'command -v node'], {
			encoding: 'utf8',
			env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
		}).trim();
		return { path, version: execFileSync(path, ['--version'], { encoding: 'utf8' }).trim() };
	} catch {
		return null;
	}
}

const older = systemNode();
const fetchesRuntime = older !== null && Number(older.version.slice(1).split('.')[0]) < 24;

(fetchesRuntime ? describe : describe.skip)(
	`the Node runtime fetched for a machine on ${older?.version}`,
	() => {
		const caches: string[] = [];
		afterAll(() => caches.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

		it('two first runs at once, with empty npm and runtime caches, both run Node 24 and agree on one binary', async () => {
			const [npmCache, runtimeCache] = [
				mkdtempSync(join(tmpdir(), 'npm-cache-')),
				mkdtempSync(join(tmpdir(), 'runtime-cache-')),
			];
			caches.push(npmCache, runtimeCache);
			const env = { ...process.env, npm_config_cache: npmCache, XDG_CACHE_HOME: runtimeCache };
			const once = () =>
				run(
					older!.path,
					['tools/node-runtime.js', '-p', 'process.version + " " + process.execPath'],
					{ cwd: root, env },
				);
			const answers = (await Promise.all([once(), once()])).map(({ stdout }) =>
				stdout.trim().split(' '),
			);
			for (const [version] of answers)
				expect(Number(version.slice(1).split('.')[0])).toBeGreaterThanOrEqual(24);
			expect(answers[0][1]).toBe(answers[1][1]);
			expect(answers[0][1].startsWith(runtimeCache)).toBe(true);
			// A second call reuses the cached runtime, still version-checked.
			const again = await once();
			expect(again.stdout.trim().split(' ')[1]).toBe(answers[0][1]);
		}, 180_000);
	},
);
