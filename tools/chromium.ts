// Headless Chromium from Debian's packages (`apt-get install -y chromium`; $CHROMIUM names another binary) driven
// over the DevTools protocol: the screenshots and the end-to-end editor test use it. Needs a global WebSocket
// (Node >= 22). The network is closed to it apart from the pages it is sent to.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sleep } from './sleep';

/** A DevTools-protocol message: the answer to a command (`id`) or an event (`method`). */
interface DevToolsMessage {
	id?: number;
	method?: string;
	params?: Record<string, unknown>;
	result?: Record<string, unknown>;
	error?: { message: string; code: number };
}

/** A minimal DevTools-protocol session on one page target. */
export interface Page {
	send<T = Record<string, unknown>>(method: string, params?: Record<string, unknown>): Promise<T>;
	/** The value of a page-side expression (awaited when it is a promise). */
	evaluate<T = unknown>(expression: string): Promise<T>;
	navigate(url: string): Promise<void>;
	/** Calls `listener` with the parameters of every event `method` until the returned function is called. */
	on(method: string, listener: (params: Record<string, unknown>) => void): () => void;
	close(): void;
}

export interface Browser {
	page: Page;
	close(): Promise<void>;
}

export async function openPage(wsUrl: string): Promise<Page> {
	const ws = new WebSocket(wsUrl);
	await new Promise((resolve, reject) => {
		ws.addEventListener('open', resolve, { once: true });
		ws.addEventListener('error', reject, { once: true });
	});
	let nextId = 1;
	const pending = new Map<number, { resolve(result: unknown): void; reject(error: Error): void }>();
	const listeners: ((message: DevToolsMessage) => void)[] = [];
	ws.addEventListener('message', (event) => {
		const message = JSON.parse(String(event.data)) as DevToolsMessage;
		const waiting = message.id === undefined ? undefined : pending.get(message.id);
		if (waiting) {
			pending.delete(message.id!);
			if (message.error)
				waiting.reject(new Error(`${message.error.message} (${message.error.code})`));
			else waiting.resolve(message.result);
		} else if (message.method) {
			for (const listener of listeners) listener(message);
		}
	});
	const send = <T>(method: string, params: Record<string, unknown> = {}) =>
		new Promise<T>((resolve, reject) => {
			const id = nextId++;
			pending.set(id, { resolve: resolve as (result: unknown) => void, reject });
			ws.send(JSON.stringify({ id, method, params }));
		});
	const evaluate = async <T>(expression: string) => {
		const answer = await send<{ result: { value: T }; exceptionDetails?: unknown }>(
			'Runtime.evaluate',
			{
				expression,
				awaitPromise: true,
				returnByValue: true,
			},
		);
		if (answer.exceptionDetails)
			throw new Error(
				`page script failed: ${JSON.stringify(answer.exceptionDetails).slice(0, 300)}`,
			);
		return answer.result.value;
	};
	const navigate = async (url: string) => {
		const loaded = new Promise<void>((resolve) => {
			const listener = (message: DevToolsMessage) => {
				if (message.method === 'Page.loadEventFired') {
					listeners.splice(listeners.indexOf(listener), 1);
					resolve();
				}
			};
			listeners.push(listener);
		});
		await send('Page.navigate', { url });
		// at most 30 s, and no timer left behind to keep the process alive
		let timer: NodeJS.Timeout | undefined;
		await Promise.race([
			loaded,
			new Promise<void>((resolve) => (timer = setTimeout(resolve, 30000))),
		]);
		clearTimeout(timer);
	};
	const on = (method: string, listener: (params: Record<string, unknown>) => void) => {
		const forEvent = (message: DevToolsMessage) => {
			if (message.method === method) listener(message.params ?? {});
		};
		listeners.push(forEvent);
		return () => {
			const index = listeners.indexOf(forEvent);
			if (index >= 0) listeners.splice(index, 1);
		};
	};
	return { send, evaluate, navigate, on, close: () => ws.close() };
}

export async function launchChromium({
	width,
	height,
}: {
	width: number;
	height: number;
}): Promise<Browser> {
	const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2tm-chromium-'));
	const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
	if (!fs.existsSync(chromium))
		throw new Error(`${chromium} not found: apt-get update && apt-get install -y chromium`);
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
	child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
	const portFile = path.join(userDataDir, 'DevToolsActivePort');
	for (let i = 0; i < 150 && !fs.existsSync(portFile); i++) await sleep(100);
	if (!fs.existsSync(portFile)) throw new Error(`Chromium did not start: ${stderr.slice(-500)}`);
	const port = fs.readFileSync(portFile, 'utf8').split('\n')[0].trim();
	let target: { type: string; webSocketDebuggerUrl: string } | undefined;
	for (let i = 0; i < 100 && !target; i++) {
		try {
			const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
				type: string;
				webSocketDebuggerUrl: string;
			}[];
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
	await page.send('Emulation.setDeviceMetricsOverride', {
		width,
		height,
		deviceScaleFactor: 1,
		mobile: false,
	});
	return {
		page,
		close: async () => {
			page.close();
			const exited = new Promise((resolve) => child.once('exit', resolve));
			try {
				process.kill(-child.pid!, 'SIGTERM'); // the wrapper and the browser processes it started
			} catch {
				// gone already
			}
			await exited;
			await sleep(300);
			fs.rmSync(userDataDir, { recursive: true, force: true });
		},
	};
}

/**
 * Answers the browser's HTTP authentication prompts from now on, as a user typing into them would: `credentials` gives
 * the user name and password for the URL that asks, or nothing to cancel the prompt.
 */
export async function answerBasicAuth(
	page: Page,
	credentials: (url: string) => { username: string; password: string } | undefined,
): Promise<void> {
	// with auth requests handled, every request pauses first: let each go on
	page.on(
		'Fetch.requestPaused',
		({ requestId }) => void page.send('Fetch.continueRequest', { requestId }),
	);
	page.on('Fetch.authRequired', ({ requestId, request }) => {
		const given = credentials(String((request as { url: string }).url));
		const authChallengeResponse = given
			? { response: 'ProvideCredentials', ...given }
			: { response: 'CancelAuth' };
		void page.send('Fetch.continueWithAuth', { requestId, authChallengeResponse });
	});
	await page.send('Fetch.enable', { handleAuthRequests: true });
}

export async function capture(page: Page, file: string): Promise<void> {
	const { data } = await page.send<{ data: string }>('Page.captureScreenshot', { format: 'png' });
	fs.writeFileSync(file, Buffer.from(data, 'base64'));
}
