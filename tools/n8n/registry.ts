/*
 * A local npm registry that n8n's own Community Nodes installer can reach without an enterprise licence.
 *
 * How n8n picks the registry: every npm command its installer runs (`npm pack <name>@<version>`, then `npm install`
 * in the unpacked package, and `npm view` for its version check) gets an explicit `--registry=<url>` argument, the
 * url being N8N_COMMUNITY_PACKAGES_REGISTRY, whose default is https://registry.npmjs.org. Any other value is refused
 * unless the licence has feat:communityNodes:customRegistry. A command-line --registry outranks every npm config
 * file and npm_config_* variable, so the registry *address* cannot be changed from outside. What npm still reads from
 * its config is how it *reaches* that address: `https-proxy` and `cafile`, the settings a company network that
 * proxies the npm registry (with its own certificate authority) puts in the ~/.npmrc of the user n8n runs as. Here
 * that file is handed to n8n's npm as npm_config_userconfig. (Not as npm_config_https_proxy: n8n's own HTTP client
 * reads that variable too and would send its calls to n8n's services through the proxy.)
 *
 * So this starts verdaccio (HTTPS, with a throwaway certificate for the default registry's host name) and an HTTP
 * CONNECT proxy that tunnels that host, and only that host, to verdaccio. verdaccio serves the packages published to
 * it and passes every other package through to the registry npm is configured with here.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { nodeRuntime } from '../node-runtime';
import { sleep } from '../sleep';
import { freePort } from './instance';
import { repoDir } from './package';

const run = promisify(execFile);

/** The host n8n's installer always names in --registry (its default registry) unless licensed otherwise. */
export const N8N_DEFAULT_REGISTRY_HOST = 'registry.npmjs.org';

export interface LocalRegistry {
	/** verdaccio itself (HTTPS, the certificate in caFile) */
	url: string;
	/** Environment for a process whose npm must reach this registry when told --registry=https://registry.npmjs.org. */
	npmEnv: NodeJS.ProcessEnv;
	/** Tunnels opened through the proxy to verdaccio, and CONNECT requests to other hosts it refused. */
	tunnels(): { opened: number; refused: string[] };
	/** `npm publish` of a packed tarball to this registry. */
	publish(tarball: string): Promise<void>;
	stop(): Promise<void>;
}

async function npmConfig(key: string): Promise<string> {
	const { stdout } = await run('npm', ['config', 'get', key], { cwd: repoDir });
	const value = stdout.trim();
	return value === 'null' || value === 'undefined' ? '' : value;
}

function httpsJson(
	url: string,
	ca: string,
	method = 'GET',
	body?: unknown,
): Promise<{ status: number; json: unknown }> {
	return new Promise((resolve, reject) => {
		const req = https.request(
			url,
			{ method, ca, headers: { 'content-type': 'application/json' }, timeout: 10_000 },
			(res) => {
				let text = '';
				res.on('data', (chunk: Buffer) => (text += chunk.toString()));
				res.on('end', () => {
					let json: unknown = null;
					try {
						json = JSON.parse(text);
					} catch {
						// not JSON
					}
					resolve({ status: res.statusCode ?? 0, json });
				});
			},
		);
		req.on('error', reject);
		req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
		req.end(body === undefined ? undefined : JSON.stringify(body));
	});
}

/** Starts verdaccio and the proxy; everything (storage, certificate, logs) lives in `dir`. */
export async function startLocalRegistry({
	dir,
	packages,
}: {
	dir: string;
	packages: string[];
}): Promise<LocalRegistry> {
	fs.mkdirSync(dir, { recursive: true });
	const key = path.join(dir, 'registry-key.pem');
	const caFile = path.join(dir, 'registry-cert.pem');
	await run('openssl', [
		'req',
		'-x509',
		'-newkey',
		'rsa:2048',
		'-nodes',
		'-days',
		'2',
		'-keyout',
		key,
		'-out',
		caFile,
		'-subj',
		`/CN=${N8N_DEFAULT_REGISTRY_HOST}`,
		'-addext',
		`subjectAltName=DNS:${N8N_DEFAULT_REGISTRY_HOST},IP:127.0.0.1`,
	]);
	const ca = fs.readFileSync(caFile, 'utf8');
	const uplink = (await npmConfig('registry')) || 'https://registry.npmjs.org/';
	const uplinkCa = await npmConfig('cafile');
	const port = await freePort();
	const url = `https://127.0.0.1:${port}`;
	const own = packages
		.map((name) => `  '${name}':\n    access: $all\n    publish: $authenticated\n`)
		.join('');
	fs.writeFileSync(
		path.join(dir, 'config.yaml'),
		[
			`storage: ${path.join(dir, 'storage')}`,
			`auth:\n  htpasswd:\n    file: ${path.join(dir, 'htpasswd')}`,
			`uplinks:\n  upstream:\n    url: ${uplink}\n    timeout: 60s`,
			`packages:\n${own}  '**':\n    access: $all\n    proxy: upstream`,
			`https:\n  key: ${key}\n  cert: ${caFile}`,
			`listen: ${url}/`,
			`log: { type: stdout, format: pretty, level: warn }`,
			'',
		].join('\n'),
	);
	const logFile = path.join(dir, 'verdaccio.log');
	const out = fs.openSync(logFile, 'a');
	const verdaccio: ChildProcess = spawn(
		nodeRuntime(),
		[
			path.join(repoDir, 'node_modules', 'verdaccio', 'bin', 'verdaccio'),
			'-c',
			path.join(dir, 'config.yaml'),
		],
		{
			cwd: dir,
			stdio: ['ignore', out, out],
			// its uplink is reached the way npm reaches it here (npm's own certificate authority file, if any)
			env: { ...process.env, ...(uplinkCa ? { NODE_EXTRA_CA_CERTS: uplinkCa } : {}) },
		},
	);
	let exited = false;
	verdaccio.on('exit', () => (exited = true));

	const sockets = new Set<net.Socket>();
	const refused: string[] = [];
	let opened = 0;
	const proxy = http.createServer((_req, res) =>
		res.writeHead(403).end('only CONNECT tunnels to the npm registry host\n'),
	);
	proxy.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
		sockets.add(client);
		client.on('close', () => sockets.delete(client));
		client.on('error', () => client.destroy());
		if (req.url !== `${N8N_DEFAULT_REGISTRY_HOST}:443`) {
			refused.push(String(req.url));
			client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
			return;
		}
		opened += 1;
		const upstream = net.connect(port, '127.0.0.1', () => {
			client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
			if (head.length) upstream.write(head);
			upstream.pipe(client);
			client.pipe(upstream);
		});
		sockets.add(upstream);
		upstream.on('close', () => sockets.delete(upstream));
		upstream.on('error', () => client.destroy());
	});
	const proxyPort = await freePort();
	await new Promise<void>((resolve) => proxy.listen(proxyPort, '127.0.0.1', resolve));

	const stop = async () => {
		for (const socket of sockets) socket.destroy();
		await new Promise<void>((resolve) => proxy.close(() => resolve()));
		if (!exited) {
			const gone = new Promise((resolve) => verdaccio.once('exit', resolve));
			verdaccio.kill('SIGTERM');
			const timer = setTimeout(() => verdaccio.kill('SIGKILL'), 10_000);
			await gone;
			clearTimeout(timer);
		}
		fs.closeSync(out);
	};

	try {
		for (const deadline = Date.now() + 60_000; ;) {
			if (exited) throw new Error(`verdaccio exited during start; see ${logFile}`);
			const ping = await httpsJson(`${url}/-/ping`, ca).catch(() => null);
			if (ping?.status === 200) break;
			if (Date.now() > deadline)
				throw new Error(`verdaccio did not answer within 60 s; see ${logFile}`);
			await sleep(250);
		}
		// a publisher account: verdaccio answers a new user with a token
		const user = await httpsJson(`${url}/-/user/org.couchdb.user:publisher`, ca, 'PUT', {
			name: 'publisher',
			password: 'local-registry-only',
		});
		const token = (user.json as { token?: string } | null)?.token;
		if (!token) throw new Error(`verdaccio created no publisher account (${user.status})`);
		const publishConfig = path.join(dir, 'publish.npmrc');
		fs.writeFileSync(
			publishConfig,
			`registry=${url}/\n//127.0.0.1:${port}/:_authToken=${token}\ncafile=${caFile}\n`,
			{ mode: 0o600 },
		);

		const userConfig = path.join(dir, 'n8n-user.npmrc');
		fs.writeFileSync(userConfig, `https-proxy=http://127.0.0.1:${proxyPort}/\ncafile=${caFile}\n`);

		return {
			url,
			// `npm run` exports some settings (cafile among them) as npm_config_* variables, which would outrank the file
			npmEnv: {
				npm_config_userconfig: userConfig,
				npm_config_cafile: undefined,
				npm_config_https_proxy: undefined,
				npm_config_proxy: undefined,
			},
			tunnels: () => ({ opened, refused: [...refused] }),
			async publish(tarball) {
				await run(
					'npm',
					[
						'publish',
						tarball,
						`--userconfig=${publishConfig}`,
						`--registry=${url}/`,
						`--cafile=${caFile}`,
						'--ignore-scripts',
						'--loglevel=error',
					],
					{
						cwd: dir,
						env: { ...process.env, npm_config_ignore_scripts: 'true' },
					},
				);
			},
			stop,
		};
	} catch (err) {
		await stop().catch(() => {});
		throw err;
	}
}
