// `npm test`: builds, type-checks, then runs the Jest suites against the real databases of this machine.
// `npm run test:e2e`: builds, installs the pinned n8n if needed (cached outside the clone, about 6 minutes the first
// time), then runs test/e2e with jest.e2e.config.js against a real n8n.
// Started by run.js, which has installed the dependencies and moved to the Node 24 runtime the tests need.
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureN8n } from '../tools/n8n/install';
import { runWithRuntime } from '../tools/node-runtime';

const root = path.resolve(__dirname, '..');

function step(title: string, command: string) {
	process.stdout.write(`\n> ${title}\n`);
	execSync(command, { cwd: root, stdio: 'inherit' });
}

const jest = (args: string[]) =>
	runWithRuntime([path.join(root, 'node_modules', 'jest', 'bin', 'jest.js'), ...args], {
		cwd: root,
	});

async function endToEnd(jestArgs: string[]): Promise<number> {
	const n8n = await ensureN8n({ log: (line) => console.log(`[e2e] ${line}`) });
	console.log(`[e2e] n8n ${n8n.version} ready`);
	return jest(['-c', 'jest.e2e.config.js', '--runInBand', ...jestArgs]);
}

export async function main(args: string[]): Promise<number> {
	const jestArgs = args.filter((a) => a !== '--e2e');
	step('Building (npm run build)', 'npm run build --silent');
	if (args.includes('--e2e')) return endToEnd(jestArgs);
	step('Type-checking sources, tests and scripts', 'npx tsc --noEmit -p tsconfig.json');
	const report = path.join(os.tmpdir(), `oauth2tm-jest-${process.pid}.json`);
	const code = await jest([
		'--json',
		`--outputFile=${report}`,
		...(process.env.CI ? ['--ci'] : []),
		...jestArgs,
	]);
	if (fs.existsSync(report)) {
		const result = JSON.parse(fs.readFileSync(report, 'utf8')) as {
			numPassedTests: number;
			numFailedTests: number;
		};
		fs.rmSync(report);
		console.log(`\njest: ${result.numPassedTests} passed, ${result.numFailedTests} failed`);
	}
	return code;
}
