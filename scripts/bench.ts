// npm run bench: builds the package and makes sure the pinned n8n is installed (cached outside the clone, like the
// demo), then runs the benchmark (bench/index.ts). PostgreSQL and Redis must be running; without MariaDB the
// template's contender is left out. BENCH_LIFETIME (access-token lifetime, seconds) and BENCH_STEADY_LIFETIMES
// shorten a run. Started by run.js, which has installed the dependencies and moved to the Node 24 runtime.
import { execSync } from 'node:child_process';
import path from 'node:path';
import { runBench } from '../bench';
import { ensureN8n } from '../tools/n8n/install';

const root = path.resolve(__dirname, '..');
const USAGE =
	'usage: npm run bench\n' +
	'  environment: BENCH_LIFETIME=20 (access-token lifetime, seconds), BENCH_STEADY_LIFETIMES=5 (lifetimes the steady scenario spans)';

export async function main(args: string[]): Promise<number> {
	if (args.includes('--help') || args.includes('-h')) {
		console.log(USAGE);
		return 0;
	}
	if (args.length) {
		console.error(`unknown option ${args[0]}\n${USAGE}`);
		return 2;
	}
	console.log('[bench] building the package');
	execSync('npm run build --silent', { cwd: root, stdio: 'inherit' });
	const n8n = await ensureN8n({ log: (line) => console.log(`[bench] ${line}`) });
	console.log(`[bench] n8n ${n8n.version} ready`);
	await runBench();
	return 0;
}
