// Installs a pinned n8n once into the cache folder shared by the demo, the e2e tests and the compatibility run
// (outside the clone, so a CI run or a fresh clone reuses it), one folder per n8n version. `npm install --ignore-scripts`
// (a native optional part fails to build otherwise); about 6 minutes and 2.8 GB the first time. A marker file says the
// install completed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cacheDir } from '../node-runtime';
import { sleep } from '../sleep';

/** An n8n release and the Node.js major it runs on here. */
export interface N8nTarget {
	version: string;
	nodeMajor: number;
	/** npm overrides its install needs */
	overrides?: Record<string, string>;
}

/** The n8n the demo, the e2e tests and the benchmark run. */
export const CURRENT_N8N: N8nTarget = { version: '2.41.1', nodeMajor: 24 };
/**
 * The newest 1.x (the LTS line many self-hosted users still run). Its n8n-nodes-base fetches `xlsx` from a URL outside
 * the npm registry; the same SheetJS release republished on the registry takes its place.
 */
export const N8N_1X: N8nTarget = {
	version: '1.123.81',
	nodeMajor: 22,
	overrides: { xlsx: 'npm:@e965/xlsx@0.20.3' },
};

export const N8N_VERSION = CURRENT_N8N.version;
export const n8nHome = homeOf(CURRENT_N8N);

function homeOf(target: N8nTarget) {
	return path.join(cacheDir, `n8n-${target.version}`);
}

function binOf(target: N8nTarget) {
	return path.join(homeOf(target), 'node_modules', 'n8n', 'bin', 'n8n');
}

function markerOf(target: N8nTarget) {
	return path.join(homeOf(target), '.install-complete');
}

export type Log = (line: string) => void;

export interface N8nInstall {
	home: string;
	bin: string;
	version: string;
	installedNow: boolean;
}

export function isInstalled(target: N8nTarget = CURRENT_N8N): boolean {
	return fs.existsSync(markerOf(target)) && fs.existsSync(binOf(target));
}

/** One installer at a time across processes (the demo and the tests may start together). */
async function withLock<T>(version: string, fn: () => Promise<T>, log: Log): Promise<T> {
	const lock = path.join(cacheDir, `n8n-${version}.lock`);
	fs.mkdirSync(cacheDir, { recursive: true });
	for (let waited = 0; ; waited += 2000) {
		try {
			fs.mkdirSync(lock);
			break;
		} catch (err) {
			if (err.code !== 'EEXIST') throw err;
			const age = Date.now() - fs.statSync(lock).mtimeMs;
			if (age > 30 * 60 * 1000) {
				fs.rmSync(lock, { recursive: true, force: true }); // a crashed installer left it
				continue;
			}
			if (waited % 30000 === 0) log(`waiting for another n8n install to finish (${lock})`);
			await sleep(2000);
		}
	}
	try {
		return await fn();
	} finally {
		fs.rmSync(lock, { recursive: true, force: true });
	}
}

function countPackages(dir: string) {
	let n = 0;
	try {
		for (const entry of fs.readdirSync(dir)) {
			if (entry.startsWith('.')) continue;
			if (entry.startsWith('@')) n += fs.readdirSync(path.join(dir, entry)).length;
			else n += 1;
		}
	} catch {
		// not there yet
	}
	return n;
}

/**
 * Makes sure the target n8n (default: the current one) is installed in the cache; returns { home, bin, version }.
 * log(line) receives progress lines (every 15 s while npm works).
 */
export async function ensureN8n({
	target = CURRENT_N8N,
	log = (line) => process.stderr.write(`${line}\n`),
}: { target?: N8nTarget; log?: Log } = {}): Promise<N8nInstall> {
	const home = homeOf(target);
	const bin = binOf(target);
	const ready = { home, bin, version: target.version, installedNow: false };
	if (isInstalled(target)) return ready;
	return withLock(
		target.version,
		async () => {
			if (isInstalled(target)) return ready;
			fs.mkdirSync(home, { recursive: true });
			const pkg = {
				name: 'n8n-runtime',
				private: true,
				dependencies: { n8n: target.version },
				overrides: target.overrides ?? {},
			};
			fs.writeFileSync(path.join(home, 'package.json'), `${JSON.stringify(pkg)}\n`);
			const started = Date.now();
			log(
				`Installing n8n ${target.version} into ${home} (first time only: about 6 minutes, 2.8 GB)...`,
			);
			const logFile = fs.openSync(path.join(home, 'install.log'), 'a');
			const child = spawn(
				'npm',
				['install', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=warn'],
				{
					cwd: home,
					stdio: ['ignore', logFile, logFile],
					env: { ...process.env, npm_config_ignore_scripts: 'true' },
				},
			);
			const ticker = setInterval(() => {
				const secs = Math.round((Date.now() - started) / 1000);
				const unpacked = countPackages(path.join(home, 'node_modules'));
				log(
					`  ... ${secs}s, ${unpacked ? `${unpacked} packages unpacked, downloading and linking the rest` : 'npm is resolving about 2,300 packages'}`,
				);
			}, 15000);
			const code = await new Promise<number | null>((resolve, reject) => {
				child.on('error', reject);
				child.on('exit', (c, signal) => resolve(signal ? 1 : c));
			}).finally(() => {
				clearInterval(ticker);
				fs.closeSync(logFile);
			});
			if (code !== 0 || !fs.existsSync(bin)) {
				throw new Error(
					`npm install n8n@${target.version} failed (exit ${code}); see ${path.join(home, 'install.log')}`,
				);
			}
			fs.writeFileSync(markerOf(target), `${new Date().toISOString()} n8n@${target.version}\n`);
			log(`n8n ${target.version} installed in ${Math.round((Date.now() - started) / 1000)}s`);
			return { ...ready, installedNow: true };
		},
		log,
	);
}
