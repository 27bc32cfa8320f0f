/*
 * Workflow 5, the connections status page, in a real n8n (the pinned version) with this package, the sandbox as the
 * provider and the embedded store, read in headless Chromium as a user reads it: the rows, their colours and words, the
 * filters, a phone's width, Re-authorize through workflow 1 and the sandbox's consent, no token or secret in the source,
 * and the first page of 10,000 connections timed. One file: `npm run test:e2e -- test/e2e/status-page.e2e.ts`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { TokenCipher } from '../../engine/crypto';
import type { Browser, Page } from '../../tools/chromium';
import {
	connectInEveryState,
	failingFields,
	openStatusPageBrowser,
	seedConnections,
	updateStoredConnection,
	type ConnectionsInEveryState,
} from '../../tools/n8n/status-page';
import { startStack, type Stack } from '../../tools/n8n/stack';

const IDS: ConnectionsInEveryState = {
	active: 'status:active',
	expiring: 'status:expiring',
	failing: 'status:failing',
	// connection ids are the user's to choose: the page must show this one as text
	needsReauth: '<script>alert("status")</script>',
	revoked: 'status:revoked',
};
/** The colour (text, background) each status is shown in, as the page's style gives it. */
const COLOURS: Record<string, [string, string]> = {
	active: ['rgb(17, 99, 41)', 'rgb(218, 251, 225)'],
	expiring: ['rgb(125, 78, 0)', 'rgb(255, 248, 197)'],
	failing: ['rgb(164, 14, 38)', 'rgb(255, 235, 233)'],
	needs_reauth: ['rgb(110, 64, 201)', 'rgb(251, 239, 255)'],
	revoked: ['rgb(66, 74, 83)', 'rgb(234, 238, 242)'],
};
/** A provider's error text is the provider's to choose too: the page must show it as text. */
const MARKED_UP_ERROR = `${failingFields().lastError}: <b>Service Unavailable</b><img src=x onerror="alert('error')">`;
const SEEDED = 10_000;

let stack: Stack;
let userFolder: string;
let browser: Browser | undefined;

function log(line: string) {
	if (process.env.E2E_VERBOSE) process.stderr.write(`${line}\n`);
}

const basic = (user: string, password: string) =>
	`Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** The page over HTTP with the status page's Basic auth; resolves the answer and how long it took. */
async function fetchPage(
	query: Record<string, string> = {},
): Promise<{ res: Response; text: string; ms: number }> {
	const started = performance.now();
	const res = await fetch(`${stack.statusPageUrl}?${new URLSearchParams(query)}`, {
		headers: { authorization: basic(stack.statusAuth.user, stack.statusAuth.password) },
	});
	const text = await res.text();
	return { res, text, ms: performance.now() - started };
}

/**
 * CPU time (user and system, ms) n8n's process and its children (the task runner) have used so far, from Linux's /proc:
 * what a page costs n8n whatever else the machine runs.
 */
function n8nCpuMs(pid = stack.n8n.child.pid!): number {
	const [utime, stime] = fs
		.readFileSync(`/proc/${pid}/stat`, 'utf8')
		.split(') ')[1]
		.split(' ')
		.slice(11, 13)
		.map(Number);
	const children = fs
		.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
		.split(' ')
		.filter(Boolean)
		.map(Number);
	return ((utime + stime) * 1000) / 100 + children.reduce((sum, child) => sum + n8nCpuMs(child), 0);
}

/** Runs `action` (a navigation) and waits for the page it leads to, at most `timeoutMs`. */
async function navigation(
	page: Page,
	action: () => Promise<unknown>,
	timeoutMs = 20_000,
): Promise<void> {
	let timer: NodeJS.Timeout | undefined;
	let stop = () => {};
	const loaded = new Promise<void>((resolve, reject) => {
		timer = setTimeout(() => reject(new Error(`no page loaded within ${timeoutMs} ms`)), timeoutMs);
		stop = page.on('Page.loadEventFired', () => resolve());
	});
	try {
		await Promise.all([action(), loaded]);
	} finally {
		clearTimeout(timer);
		stop();
	}
}

/** What the page shows of each row: the cells' texts, the status's colours, the Re-authorize link. */
interface ShownRow {
	id: string;
	status: string;
	statusClass: string;
	colour: [string, string];
	expires: string;
	lastRefresh: string;
	refreshes: string;
	failures: string;
	failingSince: string;
	lastError: string;
	reauthorize: string | null;
}

const shownRows = (page: Page) =>
	page.evaluate<ShownRow[]>(`[...document.querySelectorAll('tbody tr')].map((tr) => {
		const cell = (label) => tr.querySelector('td[data-label="' + label + '"]').textContent.trim();
		const badge = tr.querySelector('.status');
		const style = getComputedStyle(badge);
		return {
			id: cell('Connection'),
			status: badge.textContent.trim(),
			statusClass: badge.className.replace('status ', ''),
			colour: [style.color, style.backgroundColor],
			expires: cell('Access token'),
			lastRefresh: cell('Last refresh'),
			refreshes: cell('Refreshes'),
			failures: cell('Failures'),
			failingSince: cell('Failing since'),
			lastError: cell('Last error'),
			reauthorize: tr.querySelector('a.reauth')?.getAttribute('href') ?? null,
		};
	})`);

/** The counts at the top, by their word. */
const shownCounts = (page: Page) =>
	page.evaluate<Record<string, number>>(
		`Object.fromEntries([...document.querySelectorAll('.counts a')].map((a) => [a.textContent.replace(/^\\d+/, ''), Number(a.querySelector('b').textContent)]))`,
	);

/** Every value that must never reach the page: the stored tokens (plain and encrypted) and the set-up's secrets. */
function secrets(): string[] {
	const cipher = new TokenCipher(stack.storeEncryptionKey);
	const db = new DatabaseSync(stack.storeFile, { readOnly: true });
	try {
		const rows = db
			.prepare(
				`select connection_id, access_token, refresh_token from oauth2_tokens where connection_id not like 'load:%'`,
			)
			.all() as Array<{
			connection_id: string;
			access_token: string | null;
			refresh_token: string | null;
		}>;
		const tokens = rows.flatMap((row) => [
			...(row.access_token
				? [row.access_token, cipher.decrypt(row.access_token, row.connection_id, 'access_token')]
				: []),
			...(row.refresh_token
				? [row.refresh_token, cipher.decrypt(row.refresh_token, row.connection_id, 'refresh_token')]
				: []),
		]);
		expect(tokens.length).toBeGreaterThanOrEqual(8); // four connections keep both tokens
		return [
			...tokens,
			stack.storeEncryptionKey,
			stack.sandbox.clientSecret,
			stack.statusAuth.password,
			stack.basicAuth.password,
			stack.headerAuth.value,
			stack.callAuth.value,
			stack.alertAuth.value,
		];
	} finally {
		db.close();
	}
}

function expectNoSecret(text: string, secretValues: string[]) {
	expect(secretValues.filter((secret) => text.includes(secret))).toEqual([]);
	expect(text).not.toMatch(/access_token|refresh_token|accessToken|refreshToken|Bearer/);
	// the sandbox's tokens: "<user id>:" or "<user id>:r:" and 32 base64url characters
	expect(text).not.toMatch(/\d+:(r:)?[A-Za-z0-9_-]{32}/);
}

beforeAll(
	async () => {
		userFolder = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2tm-status-'));
		stack = await startStack({ userFolder, expiresIn: 3600, log });
		await connectInEveryState(stack, IDS);
		await updateStoredConnection(stack, IDS.failing, { lastError: MARKED_UP_ERROR });
	},
	15 * 60 * 1000,
);

afterAll(async () => {
	await browser?.close();
	if (stack) await stack.stop();
	if (userFolder && !process.env.E2E_KEEP) fs.rmSync(userFolder, { recursive: true, force: true });
}, 60 * 1000);

test('without its Basic auth the page answers 401 with a Basic challenge (a browser asks for it) and shows nothing', async () => {
	const none = await fetch(stack.statusPageUrl);
	expect(none.status).toBe(401);
	expect(none.headers.get('www-authenticate')).toMatch(/^Basic /);
	const wrong = await fetch(stack.statusPageUrl, {
		headers: { authorization: basic(stack.statusAuth.user, 'not-the-password') },
	});
	// workflow 1's start credential does not open it: the page has a credential of its own
	const otherWorkflows = await fetch(stack.statusPageUrl, {
		headers: { authorization: basic(stack.basicAuth.user, stack.basicAuth.password) },
	});
	for (const res of [none, wrong, otherWorkflows]) {
		expect([401, 403]).toContain(res.status);
		expect(await res.text()).not.toMatch(/status:|alert|connection/i);
	}
	const json = await fetch(`${stack.statusPageUrl}?format=json`);
	expect(json.status).toBe(401);
});

test(
	'in Chromium: one row per connection, its status in colour and in words, times, failures, the last error as text',
	async () => {
		browser = await openStatusPageBrowser(stack);
		const { page } = browser;
		const problems: string[] = [];
		page.on('Log.entryAdded', ({ entry }) =>
			problems.push(String((entry as { text: string }).text)),
		);
		page.on('Runtime.exceptionThrown', ({ exceptionDetails }) =>
			problems.push(JSON.stringify(exceptionDetails)),
		);
		await page.send('Log.enable');
		await page.navigate(stack.statusPageUrl);

		const rows = await shownRows(page);
		const byId = Object.fromEntries(rows.map((row) => [row.id, row]));
		expect(rows.map((row) => row.id)).toEqual([
			IDS.needsReauth,
			IDS.active,
			IDS.expiring,
			IDS.failing,
			IDS.revoked,
		]); // connection ID order
		expect(
			Object.fromEntries(rows.map((row) => [row.id, [row.statusClass, row.status, row.colour]])),
		).toEqual({
			[IDS.active]: ['s-active', 'active', COLOURS.active],
			[IDS.expiring]: ['s-expiring', 'expiring', COLOURS.expiring],
			[IDS.failing]: ['s-failing', 'failing', COLOURS.failing],
			[IDS.needsReauth]: ['s-needs_reauth', 'needs re-authorization', COLOURS.needs_reauth],
			[IDS.revoked]: ['s-revoked', 'revoked', COLOURS.revoked],
		});
		// connected a moment ago for an hour, never refreshed
		expect(byId[IDS.active]).toMatchObject({
			expires: expect.stringMatching(/^in 5\d min$/),
			lastRefresh: 'never',
			refreshes: '0',
			failures: '0',
			failingSince: '—',
			lastError: '—',
			reauthorize: null,
		});
		expect(byId[IDS.expiring].expires).toMatch(/^in 4 min$/);
		expect(byId[IDS.failing]).toMatchObject({
			failures: '4, next in 3 min',
			failingSince: '25 min ago',
			lastError: MARKED_UP_ERROR,
		});
		expect(byId[IDS.revoked]).toMatchObject({ expires: 'erased', reauthorize: null });
		expect(byId[IDS.needsReauth].lastError).toMatch(/invalid_grant/);
		expect(byId[IDS.needsReauth].reauthorize).toBe(
			`/webhook/pipedrive/oauth/start?connectionId=${encodeURIComponent(IDS.needsReauth)}`,
		);
		expect(await shownCounts(page)).toEqual({
			all: 5,
			active: 2,
			failing: 1,
			'needs re-authorization': 1,
			revoked: 1,
		});
		// the id and the error are text: no element came of them, no script runs, and the browser refused nothing (the style
		// is in, by its hash: the colours above)
		expect(
			await page.evaluate(
				`[...document.querySelectorAll('td.id, [data-connection-id="status:failing"] td.error')].filter((td) => td.children.length > 0).length + document.scripts.length`,
			),
		).toBe(0);
		expect(
			problems.filter((text) => /Content.Security.Policy|Refused to|Uncaught/i.test(text)),
		).toEqual([]);
	},
	3 * 60 * 1000,
);

test(
	'in Chromium: the filters, and on a phone the rows become cards without sideways scrolling',
	async () => {
		const { page } = browser!;
		await navigation(page, () =>
			page.evaluate(`(() => {
			document.querySelector('select[name="status"]').value = 'failing';
			document.querySelector('input[name="prefix"]').value = 'status:';
			document.querySelector('form button').click();
		})()`),
		);
		expect(await page.evaluate('location.search')).toBe(
			'?status=failing&prefix=status%3A&refresh=',
		);
		expect((await shownRows(page)).map((row) => row.id)).toEqual([IDS.failing]);
		expect(await shownCounts(page)).toEqual({
			all: 4,
			active: 2,
			failing: 1,
			'needs re-authorization': 0,
			revoked: 1,
		});

		await page.send('Emulation.setDeviceMetricsOverride', {
			width: 390,
			height: 844,
			deviceScaleFactor: 1,
			mobile: true,
		});
		await page.navigate(stack.statusPageUrl);
		// each row a card of labelled lines: the labels come from the cells, the table's head is gone
		const phone = await page.evaluate<{
			overflow: number;
			thead: string;
			row: string;
			cell: string;
			label: string;
		}>(`({
		overflow: document.documentElement.scrollWidth - window.innerWidth,
		thead: getComputedStyle(document.querySelector('thead')).display,
		row: getComputedStyle(document.querySelector('tbody tr')).display,
		cell: getComputedStyle(document.querySelector('tbody td')).display,
		label: getComputedStyle(document.querySelector('tbody td'), '::before').content,
	})`);
		expect(phone).toEqual({
			overflow: 0,
			thead: 'none',
			row: 'block',
			cell: 'block',
			label: '"Connection"',
		});
		await page.send('Emulation.setDeviceMetricsOverride', {
			width: 1280,
			height: 900,
			deviceScaleFactor: 1,
			mobile: false,
		});
	},
	2 * 60 * 1000,
);

test(
	'?refresh=5 reloads the page by itself, without a script; without it the page stays',
	async () => {
		const { page } = browser!;
		const asOf = () =>
			page.evaluate<string>('document.querySelector(".meta time").getAttribute("datetime")');
		await page.navigate(`${stack.statusPageUrl}?refresh=5`);
		const first = await asOf();
		await navigation(page, async () => undefined, 10_000); // the next load is the page's own
		expect(Date.parse(await asOf()) - Date.parse(first)).toBeGreaterThanOrEqual(4500);
		expect(await page.evaluate('location.search')).toBe('?refresh=5');

		await page.navigate(stack.statusPageUrl);
		const loads: number[] = [];
		const stop = page.on('Page.loadEventFired', () => loads.push(Date.now()));
		await new Promise((resolve) => setTimeout(resolve, 6000));
		stop();
		expect(loads).toEqual([]);
	},
	60 * 1000,
);

test(
	"Re-authorize leads through workflow 1 and the sandbox's consent to the connection active again",
	async () => {
		const { page } = browser!;
		await page.navigate(`${stack.statusPageUrl}?status=needs_reauth`);
		const before = stack.sandbox.stats().tokenRequests.authorization_code;
		await navigation(page, () => page.evaluate(`document.querySelector('a.reauth').click()`));
		// the start webhook (its own Basic auth) → the sandbox's authorize URL → workflow 1's callback
		expect(await page.evaluate('location.href')).toMatch(new RegExp(`^${stack.callbackUrl}\\?`));
		expect(await page.evaluate('document.querySelector("h1").textContent')).toBe('Connected');
		expect(await page.evaluate('document.querySelector("b").textContent')).toBe(IDS.needsReauth);
		expect(stack.sandbox.stats().tokenRequests.authorization_code).toBe(before + 1);

		await page.navigate(stack.statusPageUrl);
		const row = (await shownRows(page)).find((r) => r.id === IDS.needsReauth)!;
		expect(row).toMatchObject({
			status: 'active',
			colour: COLOURS.active,
			reauthorize: null,
			lastError: '—',
		});
		expect(await shownCounts(page)).toMatchObject({
			all: 5,
			active: 3,
			'needs re-authorization': 0,
		});
	},
	2 * 60 * 1000,
);

test('no token, ciphertext or secret in the page, its source or its JSON; the JSON carries the same rows', async () => {
	const secretValues = secrets();
	const html = await fetchPage();
	expect(html.res.status).toBe(200);
	expect(html.res.headers.get('content-type')).toBe('text/html; charset=utf-8');
	expect(html.res.headers.get('cache-control')).toBe('no-store');
	expectNoSecret(html.text, secretValues);
	expectNoSecret(
		await browser!.page.evaluate<string>('document.documentElement.outerHTML'),
		secretValues,
	);

	const json = await fetchPage({ format: 'json' });
	expect(json.res.headers.get('content-type')).toBe('application/json; charset=utf-8');
	expectNoSecret(json.text, secretValues);
	const body = JSON.parse(json.text);
	expect(
		body.connections.map((c: { connectionId: string; shownStatus: string }) => [
			c.connectionId,
			c.shownStatus,
		]),
	).toEqual([
		[IDS.needsReauth, 'active'],
		[IDS.active, 'active'],
		[IDS.expiring, 'expiring'],
		[IDS.failing, 'failing'],
		[IDS.revoked, 'revoked'],
	]);
	expect(body.counts).toEqual({ active: 3, failing: 1, needs_reauth: 0, revoked: 1, total: 5 });
});

test(
	`${SEEDED.toLocaleString('en')} connections: the first page answers in under a second, the next pages by the cursor, the counts exact`,
	async () => {
		const seedStarted = performance.now();
		seedConnections(stack.storeFile, SEEDED);
		const seedMs = performance.now() - seedStarted;
		const db = new DatabaseSync(stack.storeFile, { readOnly: true });
		// the counts as the engine defines a connection's status (failing: active with failing_since set)
		const expected = Object.fromEntries(
			(
				db
					.prepare(
						`select case when status = 'active' and failing_since is not null then 'failing' else status end as status, count(*) as n from oauth2_tokens group by 1`,
					)
					.all() as Array<{ status: string; n: number }>
			).map(({ status, n }) => [status, n]),
		);
		db.close();

		const timed = async (query: Record<string, string>, runs = 7) => {
			await fetchPage(query); // the first run of the Code node starts its task runner
			const answers = [];
			const cpuBefore = n8nCpuMs();
			for (let i = 0; i < runs; i++) answers.push(await fetchPage(query));
			const cpu = (n8nCpuMs() - cpuBefore) / runs;
			const times = answers.map((a) => a.ms).sort((a, b) => a - b);
			return {
				last: answers[runs - 1],
				median: times[Math.floor(runs / 2)],
				max: times[runs - 1],
				cpu,
			};
		};
		const first = await timed({});
		const json = await timed({ format: 'json' });
		const deep = await timed({ after: 'load:09000' });
		const filtered = await timed({ status: 'failing', prefix: 'load:05' });
		const figure = (t: { median: number; max: number; cpu: number }) =>
			`median ${Math.round(t.median)} ms (max ${Math.round(t.max)}, n8n CPU ${Math.round(t.cpu)} ms)`;
		process.stderr.write(
			`status page, ${(SEEDED + 5).toLocaleString('en')} connections (seeded in ${Math.round(seedMs)} ms): first page ${figure(first)}; JSON ${figure(json)}; ` +
				`page after load:09000 ${figure(deep)}; failing + prefix load:05 ${figure(filtered)}; load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores\n`,
		);
		expect(first.median).toBeLessThan(1000);
		expect(json.median).toBeLessThan(1000);
		expect(deep.median).toBeLessThan(1000);

		const page = JSON.parse(json.last.text);
		expect(page.counts).toEqual({
			active: expected.active,
			failing: expected.failing,
			needs_reauth: expected.needs_reauth ?? 0,
			revoked: expected.revoked,
			total: SEEDED + 5,
		});
		expect(page.connections).toHaveLength(50);
		expect(page.connections[0].connectionId).toBe(IDS.needsReauth);
		expect(page.connections[49].connectionId).toBe('load:00048');
		expect(page.nextAfter).toBe('load:00048');
		const second = JSON.parse((await fetchPage({ format: 'json', after: page.nextAfter })).text);
		expect(second.connections.map((c: { connectionId: string }) => c.connectionId)).toEqual(
			Array.from({ length: 50 }, (_, i) => `load:${String(49 + i).padStart(5, '0')}`),
		);
		expect(/data-connection-id="([^"]*)"/.exec(deep.last.text)?.[1]).toBe('load:09001');
		const failing = JSON.parse(
			(await fetchPage({ format: 'json', status: 'failing', prefix: 'load:05' })).text,
		);
		expect(
			failing.connections.every(
				(c: { connectionId: string; status: string }) =>
					c.status === 'failing' && c.connectionId.startsWith('load:05'),
			),
		).toBe(true);
		expect(failing.counts.total).toBe(1000);

		// the browser follows "Next page" from the first page
		const { page: browserPage } = browser!;
		await browserPage.navigate(stack.statusPageUrl);
		expect(await shownCounts(browserPage)).toMatchObject({ all: SEEDED + 5 });
		await navigation(browserPage, () =>
			browserPage.evaluate(`document.querySelector('a[rel="next"]').click()`),
		);
		expect((await shownRows(browserPage))[0].id).toBe('load:00049');
	},
	5 * 60 * 1000,
);
