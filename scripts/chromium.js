'use strict';
// Headless Chromium from Debian's packages (`apt-get install -y chromium`; $CHROMIUM names another binary) driven
// over the DevTools protocol: the screenshots and the end-to-end editor test use it. Needs a global WebSocket
// (Node >= 22). The network is closed to it apart from the pages it is sent to.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A minimal DevTools-protocol session on one page target. */
async function openPage(wsUrl) {
	const ws = new WebSocket(wsUrl);
	await new Promise((resolve, reject) => {
		ws.addEventListener('open', resolve, { once: true });
		ws.addEventListener('error', reject, { once: true });
	});
	let nextId = 1;
	const pending = new Map();
	const listeners = [];
	ws.addEventListener('message', (event) => {
		const msg = JSON.parse(event.data);
		if (msg.id && pending.has(msg.id)) {
			const { resolve, reject } = pending.get(msg.id);
			pending.delete(msg.id);
			if (msg.error) reject(new Error(`${msg.error.message} (${msg.error.code})`));
			else resolve(msg.result);
		} else if (msg.method) {
			for (const l of listeners) l(msg);
		}
	});
	const send = (method, params = {}) =>
		new Promise((resolve, reject) => {
			const id = nextId++;
			pending.set(id, { resolve, reject });
			ws.send(JSON.stringify({ id, method, params }));
		});
	const evaluate = async (expression) => {
		const r = await send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
		if (r.exceptionDetails) throw new Error(`page script failed: ${JSON.stringify(r.exceptionDetails).slice(0, 300)}`);
		return r.result.value;
	};
	const navigate = async (url) => {
		const loaded = new Promise((resolve) => {
			const l = (msg) => {
				if (msg.method === 'Page.loadEventFired') {
					listeners.splice(listeners.indexOf(l), 1);
					resolve();
				}
			};
			listeners.push(l);
		});
		await send('Page.navigate', { url });
		await Promise.race([loaded, sleep(30000)]);
	};
	return { send, evaluate, navigate, close: () => ws.close() };
}

async function launchChromium({ width, height }) {
	const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2tm-chromium-'));
	const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
	if (!fs.existsSync(chromium)) throw new Error(`${chromium} not found: apt-get update && apt-get install -y chromium`);
	const child = spawn(
		chromium,
		[
			'--headless',
			'--no-sandbox',
			'--disable-gpu',
			'--disable-quic',
			'--disable-background-networking',
			'--disable-component-update',
			'--disable-sync',
			'--no-first-run',
			'--hide-scrollbars',
			`--window-size=${width},${height}`,
			`--user-data-dir=${userDataDir}`,
			'--remote-debugging-port=0',
			'about:blank',
		],
		{ stdio: ['ignore', 'ignore', 'pipe'], detached: true }, // its own process group: Debian's chromium is a wrapper script
	);
	let stderr = '';
	child.stderr.on('data', (d) => (stderr += d));
	const portFile = path.join(userDataDir, 'DevToolsActivePort');
	for (let i = 0; i < 150 && !fs.existsSync(portFile); i++) await sleep(100);
	if (!fs.existsSync(portFile)) throw new Error(`Chromium did not start: ${stderr.slice(-500)}`);
	const port = fs.readFileSync(portFile, 'utf8').split('\n')[0].trim();
	let target;
	for (let i = 0; i < 100 && !target; i++) {
		try {
			const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
			target = list.find((t) => t.type === 'page');
		} catch {
			// DevTools not answering yet
		}
		if (!target) await sleep(200);
	}
	if (!target) throw new Error('Chromium has no page to drive');
	const page = await openPage(target.webSocketDebuggerUrl);
	await page.send('Page.enable');
	await page.send('Runtime.enable');
	await page.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false });
	return {
		page,
		close: async () => {
			page.close();
			const exited = new Promise((r) => child.once('exit', r));
			try {
				process.kill(-child.pid, 'SIGTERM'); // the wrapper and the browser processes it started
			} catch {
				// gone already
			}
			await exited;
			await sleep(300);
			fs.rmSync(userDataDir, { recursive: true, force: true });
		},
	};
}

async function capture(page, file) {
	const { data } = await page.send('Page.captureScreenshot', { format: 'png' });
	fs.writeFileSync(file, Buffer.from(data, 'base64'));
}

module.exports = { launchChromium, openPage, capture };
