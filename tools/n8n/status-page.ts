// Workflow 5's status page as the e2e test and the screenshots need it: connections in each state it shows, made
// through workflow 1 and the sandbox where a user's connection gets there that way, through the store where it would
// take hours (a provider failing for 15 minutes, a revocation); many connections at once for the timing; and the page
// opened in headless Chromium, whose Basic auth prompts are answered as a user would.
import { DatabaseSync } from 'node:sqlite';
import { SqliteTokenStore } from '../../engine/stores';
import type { ConnectionFields } from '../../engine/types';
import { answerBasicAuth, type Browser, launchChromium } from '../chromium';
import type { Stack } from './stack';

const MINUTE = 60_000;

/** One connection in each state the page shows, by that state. */
export interface ConnectionsInEveryState {
	active: string;
	expiring: string;
	failing: string;
	needsReauth: string;
	revoked: string;
}

/** A refresh failure as the engine records it (see the README's "Connection states, failures and alerts"). */
export const failingFields = (now = Date.now()): Partial<ConnectionFields> => ({
	failureCount: 4,
	firstFailureAt: new Date(now - 40 * MINUTE),
	nextAttemptAt: new Date(now + 3 * MINUTE + 30_000),
	failingSince: new Date(now - 25 * MINUTE),
	lastError: 'temporarily_unavailable: the token endpoint answered HTTP 503',
});

/** Writes `fields` over the stored connection, as the engine's versioned write does. */
export async function updateStoredConnection(
	stack: Stack,
	connectionId: string,
	fields: Partial<ConnectionFields>,
): Promise<void> {
	const store = new SqliteTokenStore({ filePath: stack.storeFile });
	try {
		const row = await store.get(connectionId);
		if (!row) throw new Error(`no connection ${connectionId} in ${stack.storeFile}`);
		await store.update(connectionId, row.version, fields);
	} finally {
		await store.close();
	}
}

/** Connects through workflow 1; throws unless its callback answers 200, the connected page. */
async function connect(stack: Stack, connectionId: string, user: string): Promise<void> {
	const { status, html } = await stack.connect(connectionId, { user });
	if (status !== 200)
		throw new Error(`connecting ${connectionId} answered ${status}: ${html.slice(0, 300)}`);
}

/**
 * Makes a connection in each state, each connected through workflow 1 first: active; expiring (the sandbox gives it a
 * 4-minute access token); needs re-authorization (its refresh token dies at once, as Pipedrive's do after 60 days
 * unused, and workflow 3's refresh is refused with invalid_grant); failing (the engine's failure record of a provider
 * down for 25 minutes, written to the store); revoked (as Revoke / Disconnect leaves it: tokens erased). The sandbox
 * gives access tokens an hour and refresh tokens 60 days again afterwards.
 */
export async function connectInEveryState(
	stack: Stack,
	ids: ConnectionsInEveryState,
): Promise<void> {
	const { sandbox } = stack;
	await connect(stack, ids.active, 'alice');
	sandbox.configure({ expiresIn: 4 * 60 + 30 });
	await connect(stack, ids.expiring, 'bob');
	sandbox.configure({ expiresIn: 3600, refreshTokenTtl: 1 });
	await connect(stack, ids.needsReauth, 'carol');
	sandbox.configure({ refreshTokenTtl: 60 * 24 * 3600 });
	await connect(stack, ids.failing, 'dave');
	await connect(stack, ids.revoked, 'erin');

	await new Promise((resolve) => setTimeout(resolve, 1500)); // the refresh token given for 1 s is dead
	const refused = await stack.refresh(ids.needsReauth);
	if (refused.status === 200)
		throw new Error(`workflow 3 refreshed ${ids.needsReauth}, whose refresh token had died`);
	await updateStoredConnection(stack, ids.failing, failingFields());
	await updateStoredConnection(stack, ids.revoked, {
		status: 'revoked',
		accessToken: null,
		refreshToken: null,
		expiresAt: null,
	});
}

/** How many rows seedConnections() writes in one statement. */
const SEED_BATCH = 5000;

/**
 * Adds `count` connections `<prefix><00000…>` to the store's table with one multi-row insert per SEED_BATCH rows, in
 * one transaction: one in 25 revoked, about a tenth failing and a tenth needing re-authorization, the rest active with
 * access tokens expiring over the next ten hours. Their token columns hold random text: nothing reads them.
 */
export function seedConnections(storeFile: string, count: number, prefix = 'load:'): void {
	const db = new DatabaseSync(storeFile, { timeout: 5000 });
	const digits = Math.max(5, String(count - 1).length);
	try {
		db.exec('begin');
		for (let from = 0; from < count; from += SEED_BATCH) {
			const to = Math.min(count, from + SEED_BATCH) - 1;
			// one statement per batch: the ids come from a recursive counter, every value from SQLite itself
			db.prepare(
				`with recursive n(i) as (select cast(?1 as integer) union all select i + 1 from n where i < ?2),
				seeded(i, kind) as (
					select i, case when i % 25 = 11 then 'revoked' when i % 10 = 7 then 'needs_reauth' when i % 10 = 3 then 'failing' else 'active' end from n
				)
				insert into oauth2_tokens (connection_id, provider, access_token, refresh_token, token_type, scope, expires_at, metadata, status,
					last_refreshed_at, refresh_count, last_error, grant_type, failure_count, first_failure_at, next_attempt_at, failing_since)
				select ?3 || substr('0000000000' || i, -?4), 'custom',
					case when kind != 'revoked' then 'v1:' || hex(randomblob(48)) end,
					case when kind != 'revoked' then 'v1:' || hex(randomblob(40)) end,
					'Bearer', 'base',
					case when kind != 'revoked' then strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || (i % 600) || ' minutes') end,
					'{}', case when kind = 'failing' then 'active' else kind end,
					strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || (i % 90) || ' minutes'), i % 50,
					case kind when 'failing' then 'temporarily_unavailable: the token endpoint answered HTTP 503'
						when 'needs_reauth' then 'invalid_grant: the refresh token is no longer valid' end,
					'authorization_code',
					case when kind = 'failing' then 4 else 0 end,
					case when kind = 'failing' then strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-40 minutes') end,
					case when kind = 'failing' then strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+3 minutes') end,
					case when kind = 'failing' then strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-25 minutes') end
				from seeded`,
			).run(from, to, prefix, digits);
		}
		db.exec('commit');
	} catch (error) {
		if (db.isTransaction) db.exec('rollback');
		throw error;
	} finally {
		db.close();
	}
}

/**
 * Headless Chromium with the status page's and workflow 1's Basic auth answered when they ask (a user types the
 * credentials of the page into the browser's prompt, then those of workflow 1's start when following Re-authorize).
 */
export async function openStatusPageBrowser(
	stack: Stack,
	size = { width: 1280, height: 900 },
): Promise<Browser> {
	const browser = await launchChromium(size);
	const startUrl = stack.startUrl;
	await answerBasicAuth(browser.page, (url) => {
		if (url.startsWith(stack.statusPageUrl))
			return { username: stack.statusAuth.user, password: stack.statusAuth.password };
		if (url.startsWith(startUrl))
			return { username: stack.basicAuth.user, password: stack.basicAuth.password };
		return undefined;
	});
	return browser;
}
