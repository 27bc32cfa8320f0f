/*
 * Many items in one execution: the node's Get Valid Token over N items, each its own connection, per store
 * (PostgreSQL, MySQL/MariaDB, embedded SQLite), against the local Pipedrive-like sandbox.
 *
 *   fresh    every token valid: the node's time for the execution (its execute(), one store read for all items),
 *            the median of --runs after one warm-up, beside the engine asked one item at a time (one read each,
 *            as every item cost before);
 *   expired  every token expired, the provider answering each token request after --token-delay-ms: the
 *            execution's wall time and its token requests (exactly one per connection is the target).
 *
 *   node scripts/run.js many-items [--items 1000] [--runs 5] [--token-delay-ms 300] [--stores PostgreSQL,MySQL,SQLite] [--json]
 *
 * Settings: TEST_POSTGRES_URL, TEST_MYSQL_URL (the servers the temporary databases go on). A store whose server
 * does not answer is reported as skipped.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type {
	ICredentialDataDecryptedObject,
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
} from 'n8n-workflow';
import { TokenManager } from '../engine/token-manager';
// The node's execute() is its router (the .node module name resolves to its codex JSON outside TypeScript's loader).
import { router } from '../nodes/OAuth2TokenManager/actions/router';
import {
	APP_CREDENTIAL,
	cipherFromCredentials,
	oauthClientFromCredentials,
	STORAGE_CREDENTIALS,
	storeFromCredentials,
	type Storage,
} from '../nodes/OAuth2TokenManager/transport/credentials';
import { startSandbox, type Sandbox } from '../tools/sandbox';
import { authorizeAtSandbox } from '../tools/sandbox-grants';
import {
	createTemporaryMySqlDatabase,
	createTemporaryPostgresDatabase,
	type TemporaryDatabase,
} from '../tools/temporary-database';

const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const ENCRYPTION_KEY = 'many-items-bench-key-0123456789abcdef';

export interface ManyItemsResult {
	store: string;
	skipped?: string;
	items?: number;
	fresh?: { nodeMedianMs: number; nodeMinMs: number; oneByOneMs: number };
	expired?: { seconds: number; tokenDelayMs: number; tokenRequests: number; refreshed: number };
}

interface StoreSetup {
	storage: Storage;
	credentials: ICredentialDataDecryptedObject;
	drop(): Promise<void>;
}

/** A store on a temporary database of a server, with the node's credential for it. */
async function serverSetup(
	storage: 'postgres' | 'mysql',
	create: (prefix: string) => Promise<TemporaryDatabase>,
	defaultPort: number,
): Promise<StoreSetup> {
	const database = await create('oauth2tm_many');
	const url = new URL(database.url);
	return {
		storage,
		credentials: {
			host: url.hostname,
			port: Number(url.port) || defaultPort,
			database: database.name,
			user: decodeURIComponent(url.username),
			password: decodeURIComponent(url.password),
			tableName: 'oauth2_tokens',
			createTableIfMissing: true,
			encryptionKey: ENCRYPTION_KEY,
		},
		drop: () => database.drop(),
	};
}

const SETUPS: Record<string, () => Promise<StoreSetup>> = {
	PostgreSQL: () => serverSetup('postgres', createTemporaryPostgresDatabase, 5432),
	MySQL: () => serverSetup('mysql', createTemporaryMySqlDatabase, 3306),
	SQLite: async () => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2tm-many-'));
		return {
			storage: 'embedded',
			credentials: { filePath: path.join(dir, 'tokens.sqlite'), encryptionKey: ENCRYPTION_KEY },
			drop: async () => fs.rmSync(dir, { recursive: true, force: true }),
		};
	},
};

/**
 * What the node reads of n8n during Get Valid Token: its items, plain parameters per item, its credentials and its
 * own description. n8n's expression evaluation is not part of it: these are the node's own milliseconds.
 */
function executeContext(
	parameters: (itemIndex: number) => IDataObject,
	itemCount: number,
	credentials: Record<string, ICredentialDataDecryptedObject>,
): IExecuteFunctions {
	const items: INodeExecutionData[] = Array.from({ length: itemCount }, () => ({ json: {} }));
	const node = {
		id: 'bench',
		name: 'OAuth2 Token Manager',
		type: 'n8n-nodes-oauth2-token-manager.oAuth2TokenManager',
		typeVersion: 1.1,
		position: [0, 0] as [number, number],
		parameters: {},
	};
	const context: Pick<
		IExecuteFunctions,
		'getInputData' | 'getNodeParameter' | 'getCredentials' | 'getNode' | 'continueOnFail'
	> = {
		getInputData: () => items,
		getNodeParameter: ((name: string, itemIndex: number, fallback?: unknown) =>
			parameters(itemIndex)[name] ?? fallback) as IExecuteFunctions['getNodeParameter'],
		getCredentials: (async (type: string) => {
			const found = credentials[type];
			if (!found) throw new Error(`no credential of type ${type}`);
			return found;
		}) as IExecuteFunctions['getCredentials'],
		getNode: () => node,
		continueOnFail: () => false,
	};
	return context as IExecuteFunctions;
}

const median = (values: number[]) =>
	[...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function measure(
	label: string,
	sandbox: Sandbox,
	settings: { items: number; runs: number; tokenDelayMs: number },
): Promise<ManyItemsResult> {
	let setup: StoreSetup;
	try {
		setup = await SETUPS[label]();
	} catch (error) {
		return { store: label, skipped: `${(error as Error).message || error}`.slice(0, 160) };
	}
	const appCredentials: ICredentialDataDecryptedObject = {
		preset: 'pipedrive',
		clientId: sandbox.clientId,
		clientSecret: sandbox.clientSecret,
		redirectUri: REDIRECT_URI,
		authorizationUrl: sandbox.authorizationUrl,
		tokenUrl: sandbox.tokenUrl,
	};
	const credentials = {
		[APP_CREDENTIAL]: appCredentials,
		[STORAGE_CREDENTIALS[setup.storage]]: setup.credentials,
	};
	// A manager and store of their own, as the node would build them from the same credentials.
	const store = storeFromCredentials(setup.storage, setup.credentials);
	const manager = new TokenManager({
		store,
		cipher: cipherFromCredentials(setup.credentials),
		client: oauthClientFromCredentials(appCredentials),
	});
	try {
		const ids = Array.from(
			{ length: settings.items },
			(_, i) => `many:${String(i).padStart(5, '0')}`,
		);
		sandbox.configure({ tokenDelayMs: 0 });
		await authorizeAtSandbox(sandbox, manager, ids, { redirectUri: REDIRECT_URI });

		const execution = () =>
			router.call(
				executeContext(
					(i) => ({ storage: setup.storage, operation: 'getValidToken', connectionId: ids[i] }),
					ids.length,
					credentials,
				),
			);
		const timed = async () => {
			const started = performance.now();
			const [items] = await execution();
			const ms = performance.now() - started;
			if (items.length !== ids.length || items.some((item, i) => item.json.connectionId !== ids[i]))
				throw new Error(`${label}: the execution did not answer every item with its connection`);
			return { ms, items };
		};
		await timed(); // warm-up: the node's store pool and prepared tables
		const nodeMs: number[] = [];
		for (let run = 0; run < settings.runs; run++) nodeMs.push((await timed()).ms);
		const oneByOneStarted = performance.now();
		for (const id of ids) await manager.getValidToken(id);
		const oneByOneMs = performance.now() - oneByOneStarted;

		// Every token expired (in the store: the sandbox would still take them), the provider slow.
		const past = new Date(Date.now() - 60_000);
		for (const row of await store.getMany(ids))
			await store.update(row.connectionId, row.version, { expiresAt: past });
		sandbox.configure({ tokenDelayMs: settings.tokenDelayMs });
		sandbox.reset();
		const { ms, items } = await timed();
		return {
			store: label,
			items: ids.length,
			fresh: { nodeMedianMs: median(nodeMs), nodeMinMs: Math.min(...nodeMs), oneByOneMs },
			expired: {
				seconds: ms / 1000,
				tokenDelayMs: settings.tokenDelayMs,
				tokenRequests: sandbox.stats().tokenRequests.refresh_token,
				refreshed: items.filter((item) => item.json.refreshed === true).length,
			},
		};
	} finally {
		sandbox.configure({ tokenDelayMs: 0 });
		await store.close().catch(() => undefined);
		await setup.drop().catch(() => undefined);
	}
}

export function manyItemsTable(results: ManyItemsResult[]): string {
	const rows = results.map((r) =>
		!r.fresh || !r.expired
			? `${r.store.padEnd(10)}  skipped: ${r.skipped ?? 'no result'}`
			: [
					r.store.padEnd(10),
					`${r.fresh.nodeMedianMs.toFixed(1)} ms`.padStart(10),
					`${r.fresh.nodeMinMs.toFixed(1)} ms`.padStart(10),
					`${Math.round(r.fresh.oneByOneMs)} ms`.padStart(12),
					`${r.expired.seconds.toFixed(1)} s`.padStart(9),
					`${r.expired.tokenRequests}/${r.items}`.padStart(11),
				].join('  '),
	);
	const expired = results.find((r) => r.expired)?.expired;
	return [
		`Many items: Get Valid Token over ${results.find((r) => r.items)?.items ?? '?'} items in one execution, each its own connection`,
		`(fresh: the node's time, median and best of the runs, beside one read per item; expired: provider answering in ${expired?.tokenDelayMs ?? '?'} ms)`,
		'',
		[
			'store'.padEnd(10),
			'fresh p50'.padStart(10),
			'fresh min'.padStart(10),
			'one by one'.padStart(12),
			'expired'.padStart(9),
			'token reqs'.padStart(11),
		].join('  '),
		...rows,
	].join('\n');
}

export async function main(args: string[]): Promise<number> {
	const option = (name: string, fallback: string) => {
		const index = args.indexOf(`--${name}`);
		return Number(index >= 0 ? args[index + 1] : fallback);
	};
	const settings = {
		items: option('items', '1000'),
		runs: option('runs', '5'),
		tokenDelayMs: option('token-delay-ms', '300'),
	};
	if (Object.values(settings).some((value) => !Number.isInteger(value) || value < 0))
		throw new Error('--items, --runs and --token-delay-ms take whole numbers');
	const sandbox = await startSandbox({ host: '127.0.0.1', port: 0, expiresIn: 3600 });
	try {
		const results: ManyItemsResult[] = [];
		const index = args.indexOf('--stores');
		const labels = index >= 0 ? args[index + 1].split(',') : Object.keys(SETUPS);
		const unknown = labels.filter((label) => !(label in SETUPS));
		if (unknown.length)
			throw new Error(
				`--stores: no store ${unknown.join(', ')} (${Object.keys(SETUPS).join(', ')})`,
			);
		for (const label of labels) results.push(await measure(label, sandbox, settings));
		if (args.includes('--json')) console.log(JSON.stringify({ settings, results }));
		else console.log(manyItemsTable(results));
		return results.some((r) => r.expired && r.expired.tokenRequests !== r.items) ? 1 : 0;
	} finally {
		await sandbox.close();
	}
}
