/**
 * Get Connection, List Connections and the Connection ID's list (node version 1.2), on a real PostgreSQL store
 * reached through the node's storage credential, as in n8n.
 */
import nock from 'nock';
import { NodeApiError, type ICredentialDataDecryptedObject, type IDataObject } from 'n8n-workflow';
import { storeFromCredentials } from '../../nodes/OAuth2TokenManager/transport/credentials';
import { CONNECTION_LIST_PAGE_SIZE } from '../../nodes/OAuth2TokenManager/methods/listSearch';
import { OAuth2TokenManager } from '../../nodes/OAuth2TokenManager/OAuth2TokenManager.node';
import {
	executeContext,
	loadOptionsContext,
	locator,
	nodeCredentials,
	stateLessExchange,
} from '../helpers/node-context';
import {
	createTemporaryPostgresDatabase,
	type TemporaryPostgresDatabase,
} from '../../tools/temporary-database';
import { newConnection } from '../stores/contract';
import { PROVIDER_ORIGIN, rotatingTokenEndpoint } from '../helpers/provider';

const node = new OAuth2TokenManager();
let db: TemporaryPostgresDatabase;
let credentials: Record<string, ICredentialDataDecryptedObject>;
/** The storage credential alone: what Get Connection, List Connections and the list ask for. */
let storeOnly: Record<string, ICredentialDataDecryptedObject>;

const run = async (
	parameters: Record<string, unknown>,
	options: {
		credentials?: Record<string, ICredentialDataDecryptedObject>;
		continueOnFail?: boolean;
	} = {},
) =>
	(
		await node.execute.call(
			executeContext({
				parameters: { storage: 'postgres', ...parameters },
				credentials: options.credentials ?? storeOnly,
				typeVersion: 1.2,
				continueOnFail: options.continueOnFail,
			}),
		)
	)[0];
const exchange = (connectionId: string) =>
	run(stateLessExchange(connectionId, { asLocator: true }), { credentials });

beforeAll(async () => {
	nock.disableNetConnect();
	nock.enableNetConnect(/127\.0\.0\.1|localhost/);
	db = await createTemporaryPostgresDatabase('oauth2tm_node_connections');
	credentials = nodeCredentials(db, 'connections-test-encryption-key');
	storeOnly = { oAuth2TokenManagerPostgresApi: credentials.oAuth2TokenManagerPostgresApi };
	rotatingTokenEndpoint();
	for (const id of ['list:a', 'list:b', 'list:c', 'other:x']) await exchange(id);
	// list:b's grant ends at the provider: its refresh is refused and it needs re-authorization
	nock.cleanAll();
	nock(PROVIDER_ORIGIN).post('/oauth/token').reply(400, { error: 'invalid_grant' });
	await run(
		{ operation: 'refreshToken', connectionId: locator('list:b'), force: true },
		{ credentials, continueOnFail: true },
	);
	nock.cleanAll();
});
afterAll(async () => {
	nock.cleanAll();
	nock.enableNetConnect();
	await db?.drop();
});

/** No token of any kind, under any name. */
function expectNoToken(items: unknown) {
	expect(JSON.stringify(items)).not.toMatch(
		/SENTINEL|access_token|refresh_token|"accessToken"|"refreshToken"/,
	);
}

const SUMMARY_FIELDS = [
	'connectionId',
	'provider',
	'grantType',
	'status',
	'token_type',
	'expiresAt',
	'expires_in',
	'scope',
	'refreshCount',
	'lastRefreshedAt',
	'lastError',
	'failureCount',
	'firstFailureAt',
	'nextAttemptAt',
	'failingSince',
	'appFingerprint',
	'createdAt',
	'updatedAt',
];

describe('Get Connection', () => {
	it('shows the stored connection without its tokens, with the storage credential alone; kept provider fields last', async () => {
		const [item] = await run({
			operation: 'getConnection',
			connectionId: locator('list:a', 'list'),
		});
		expect(Object.keys(item.json)).toEqual([...SUMMARY_FIELDS, 'api_domain']);
		expect(item.json).toMatchObject({
			connectionId: 'list:a',
			provider: 'custom',
			grantType: 'authorization_code',
			status: 'active',
			token_type: 'Bearer',
			scope: 'base deals:read',
			refreshCount: 0,
			lastError: null,
			failureCount: 0,
			api_domain: 'https://acme.pipedrive.test',
		});
		expect(item.json.appFingerprint).toMatch(/^v1:/);
		expect(Date.parse(String(item.json.expiresAt))).toBeGreaterThan(Date.now());
		expect(item.pairedItem).toEqual({ item: 0 });
		expectNoToken(item);
	});

	it('shows why a connection needs re-authorization', async () => {
		const [item] = await run({ operation: 'getConnection', connectionId: locator('list:b') });
		expect(item.json).toMatchObject({
			connectionId: 'list:b',
			status: 'needs_reauth',
			lastError: expect.stringMatching(/invalid_grant/),
		});
		expectNoToken(item);
	});

	it('an unknown connection is a NodeApiError naming the store; with Continue On Fail an error item', async () => {
		const thrown = await run({
			operation: 'getConnection',
			connectionId: locator('list:none'),
		}).catch((e) => e);
		expect(thrown).toBeInstanceOf(NodeApiError);
		expect(thrown.message).toMatch(/^No connection "list:none" in PostgreSQL table/);
		const [item] = await run(
			{ operation: 'getConnection', connectionId: locator('list:none') },
			{ continueOnFail: true },
		);
		expect(item.json).toMatchObject({ details: { code: 'connection_not_found' } });
	});
});

describe('List Connections', () => {
	const list = async (parameters: Record<string, unknown>) =>
		run({ operation: 'listConnections', returnAll: true, filters: {}, ...parameters });
	const ids = (items: Array<{ json: IDataObject }>) => items.map((item) => item.json.connectionId);

	it('one item per connection, in ID order, each paired with the input item, never a token', async () => {
		const items = await list({});
		expect(ids(items)).toEqual(['list:a', 'list:b', 'list:c', 'other:x']);
		for (const item of items) {
			expect(Object.keys(item.json)).toEqual([...SUMMARY_FIELDS, 'api_domain']);
			expect(item.pairedItem).toEqual({ item: 0 });
		}
		expectNoToken(items);
	});

	it('filters by ID prefix, status and provider', async () => {
		expect(ids(await list({ filters: { idPrefix: 'list:' } }))).toEqual([
			'list:a',
			'list:b',
			'list:c',
		]);
		expect(ids(await list({ filters: { status: 'needs_reauth' } }))).toEqual(['list:b']);
		expect(ids(await list({ filters: { status: 'active', idPrefix: 'list:' } }))).toEqual([
			'list:a',
			'list:c',
		]);
		expect(ids(await list({ filters: { provider: 'custom', idPrefix: 'other:' } }))).toEqual([
			'other:x',
		]);
		expect(await list({ filters: { provider: 'pipedrive' } })).toEqual([]);
	});

	it('Return All off gives at most Limit connections', async () => {
		expect(ids(await list({ returnAll: false, limit: 2 }))).toEqual(['list:a', 'list:b']);
	});

	it('After Connection ID continues the list after that ID, with the filters, up to Limit', async () => {
		const page = (afterConnectionId: string, limit: number, filters: IDataObject = {}) =>
			list({ returnAll: false, limit, afterConnectionId, filters });
		expect(ids(await page('list:a', 2))).toEqual(['list:b', 'list:c']);
		expect(ids(await page('list:c', 2))).toEqual(['other:x']);
		expect(ids(await page('list:a', 5, { status: 'active', idPrefix: 'list:' }))).toEqual([
			'list:c',
		]);
		// an ID that is not stored still marks the place: what sorts after it
		expect(ids(await page('list:bb', 5, { idPrefix: 'list:' }))).toEqual(['list:c']);
		expect(await page('other:x', 5)).toEqual([]);
	});

	it('an empty status (e.g. from an expression) lists every status, as an empty ID prefix does', async () => {
		expect(ids(await list({ filters: { status: '', idPrefix: '' } }))).toEqual([
			'list:a',
			'list:b',
			'list:c',
			'other:x',
		]);
	});

	it('a status that is none (e.g. from an expression) is an error naming the Status filter', async () => {
		const [item] = await run(
			{ operation: 'listConnections', returnAll: true, filters: { status: 'broken' } },
			{ continueOnFail: true },
		);
		expect(item.json).toEqual({
			error:
				'The Status "broken" is not a status: use one of active, failing, needs_reauth, revoked',
			details: { description: 'Check the "Status" field.', code: 'invalid_input' },
		});
	});
});

describe('the Connection ID list ("From List")', () => {
	const search = (filter?: string, paginationToken?: string) =>
		node.methods.listSearch.searchConnections.call(
			loadOptionsContext({ parameters: { storage: 'postgres' }, credentials: storeOnly }),
			filter,
			paginationToken,
		);

	it("lists the selected store's connections with their status, narrowed by what the user types", async () => {
		expect((await search('list:')).results).toEqual([
			{ name: 'list:a (active)', value: 'list:a', description: 'custom' },
			{ name: 'list:b (needs_reauth)', value: 'list:b', description: 'custom' },
			{ name: 'list:c (active)', value: 'list:c', description: 'custom' },
		]);
		expect((await search('other')).results.map((r) => r.value)).toEqual(['other:x']);
		// anywhere in the ID, not only at its start: "x" finds "other:x"
		expect((await search(':x')).results.map((r) => r.value)).toEqual(['other:x']);
		expect((await search('ist:')).results.map((r) => r.value)).toEqual([
			'list:a',
			'list:b',
			'list:c',
		]);
		expect((await search('%')).results).toEqual([]);
		expect(await search('nothing-like-it')).toEqual({ results: [], paginationToken: undefined });
	});

	it('pages through a long list: each page hands the token of the next, the last none', async () => {
		const store = storeFromCredentials('postgres', storeOnly.oAuth2TokenManagerPostgresApi);
		const total = CONNECTION_LIST_PAGE_SIZE + 5;
		const pageIds = Array.from({ length: total }, (_, i) => `page:${String(i).padStart(3, '0')}`);
		try {
			for (const connectionId of pageIds) {
				await store.insert(
					newConnection(connectionId, {
						provider: 'custom',
						accessToken: null,
						refreshToken: null,
					}),
				);
			}
		} finally {
			await store.close();
		}
		const first = await search('page:');
		expect(first.results).toHaveLength(CONNECTION_LIST_PAGE_SIZE);
		expect(first.paginationToken).toBe(pageIds[CONNECTION_LIST_PAGE_SIZE - 1]);
		const second = await search('page:', first.paginationToken);
		expect(second.paginationToken).toBeUndefined();
		expect([...first.results, ...second.results].map((r) => r.value)).toEqual(pageIds);
	});

	it('a store that cannot be reached is reported as n8n reports a refused connection, naming the store', async () => {
		const unreachable = {
			oAuth2TokenManagerPostgresApi: { ...storeOnly.oAuth2TokenManagerPostgresApi, port: 1 },
		};
		const error = await node.methods.listSearch.searchConnections
			.call(loadOptionsContext({ parameters: { storage: 'postgres' }, credentials: unreachable }))
			.catch((e) => e);
		expect(error).toBeInstanceOf(NodeApiError);
		// n8n words a refused connection itself and keeps the store's message beside it
		expect(error.message).toBe('The service refused the connection - perhaps it is offline');
		expect(error.messages.join(' ')).toMatch(
			/^PostgreSQL table oauth2_tokens on 127\.0\.0\.1:1\/\S+: could not list connections/,
		);
	});
});
