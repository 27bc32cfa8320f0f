// Installs the pinned n8n once into the cache folder shared by the demo and the e2e tests (outside the clone, so a
// CI run or a fresh clone reuses it). `npm install n8n@<pin> --ignore-scripts` (a native optional part fails to build
// otherwise); about 6 minutes and 2.8 GB the first time. A marker file says the install completed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cacheDir } from '../node-runtime';

export const N8N_VERSION = '2.41.1';
export const n8nHome = path.join(cacheDir, `n8n-${N8N_VERSION}`);
const marker = path.join(n8nHome, '.install-complete');
export const n8nBin = path.join(n8nHome, 'node_modules', 'n8n', 'bin', 'n8n');

export type Log = (line: string) => void;

export interface N8nInstall {
	home: string;
	bin: string;
	version: string;
	installedNow: boolean;
}

export function isInstalled(): boolean {
	return fs.existsSync(marker) && fs.existsSync(n8nBin);
}

function sleep(ms: number) {
	return new Promise<void>((resolve) => setTimeout(resolve, ms));
}

/** One installer at a time across processes (the demo and the tests may start together). */
async function withLock<T>(fn: () => Promise<T>, log: Log): Promise<T> {
	const lock = path.join(cacheDir, `n8n-${N8N_VERSION}.lock`);
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
 * Makes sure n8n is installed in the cache; returns { home, bin, version }.
 * log(line) receives progress lines (every 15 s while npm works).
 */
export async function ensureN8n({ log = (line) => process.stderr.write(`${line}\n`) }: { log?: Log } = {}): Promise<N8nInstall> {
	if (isInstalled()) return { home: n8nHome, bin: n8nBin, version: N8N_VERSION, installedNow: false };
	return withLock(async () => {
		if (isInstalled()) return { home: n8nHome, bin: n8nBin, version: N8N_VERSION, installedNow: false };
		fs.mkdirSync(n8nHome, { recursive: true });
		const pkgFile = path.join(n8nHome, 'package.json');
		const pkg = { name: 'n8n-runtime', private: true, dependencies: { n8n: N8N_VERSION } };
		fs.writeFileSync(pkgFile, `${JSON.stringify(pkg)}\n`);
		const started = Date.now();
		log(`Installing n8n ${N8N_VERSION} into ${n8nHome} (first time only: about 6 minutes, 2.8 GB)...`);
		const logFile = fs.openSync(path.join(n8nHome, 'install.log'), 'a');
		const child = spawn(
			'npm',
			['install', `n8n@${N8N_VERSION}`, '--save-exact', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=warn'],
			{ cwd: n8nHome, stdio: ['ignore', logFile, logFile], env: { ...process.env, npm_config_ignore_scripts: 'true' } },
		);
		const ticker = setInterval(() => {
			const secs = Math.round((Date.now() - started) / 1000);
			const unpacked = countPackages(path.join(n8nHome, 'node_modules'));
			log(`  ... ${secs}s, ${unpacked ? `${unpacked} packages unpacked, downloading and linking the rest` : 'npm is resolving about 2,300 packages'}`);
		}, 15000);
		const code = await new Promise<number | null>((resolve, reject) => {
			child.on('error', reject);
			child.on('exit', (c, signal) => resolve(signal ? 1 : c));
		}).finally(() => {
			clearInterval(ticker);
			fs.closeSync(logFile);
		});
		if (code !== 0 || !fs.existsSync(n8nBin)) {
			throw new Error(`npm install n8n@${N8N_VERSION} failed (exit ${code}); see ${path.join(n8nHome, 'install.log')}`);
		}
		fs.writeFileSync(marker, `${new Date().toISOString()} n8n@${N8N_VERSION}\n`);
		log(`n8n ${N8N_VERSION} installed in ${Math.round((Date.now() - started) / 1000)}s`);
		return { home: n8nHome, bin: n8nBin, version: N8N_VERSION, installedNow: true };
	}, log);
}
