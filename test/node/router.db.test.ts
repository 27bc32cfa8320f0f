/**
 * The router: the item loop, pairedItem, Continue On Fail, the output field rule of each node version, and the one
 * mapping of engine errors to n8n's errors and words.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import nock from 'nock';
import {
	NodeApiError,
	NodeOperationError,
	type ICredentialDataDecryptedObject,
	type IDataObject,
	type INode,
} from 'n8n-workflow';
import {
	AppMismatchError,
	ConnectionNotFoundError,
	ConnectionRevokedError,
	DecryptionError,
	InvalidInputError,
	InvalidStateError,
	LeaseTimeoutError,
	MissingInputError,
	NeedsReauthorizationError,
	ProviderFailingError,
	StoreError,
	TokenEndpointError,
	type InvalidStateReason,
} from '../../engine/errors';
import { PROVIDER_PRESETS } from '../../engine/presets';
import { SqlTokenStore } from '../../engine/stores/sql-store';
import {
	describeEngineError,
	inputFieldLabel,
	toNodeError,
} from '../../nodes/OAuth2TokenManager/actions/nodeErrors';
import { OAuth2TokenManager } from '../../nodes/OAuth2TokenManager/OAuth2TokenManager.node';
import {
	executeContext,
	locator,
	useNodeTestDatabase,
	stateLessExchange,
} from '../helpers/node-context';
import type { TemporaryPostgresDatabase } from '../../tools/temporary-database';
import { PROVIDER_ORIGIN, rotatingTokenEndpoint } from '../helpers/provider';

const node = new OAuth2TokenManager();
const n8nNode = {
	id: 'n',
	name: 'OAuth2 Token Manager',
	type: 'oAuth2TokenManager',
	typeVersion: 1.1,
	position: [0, 0],
	parameters: {},
} as INode;
let db: TemporaryPostgresDatabase;
let credentials: Record<string, ICredentialDataDecryptedObject>;

useNodeTestDatabase(
	'oauth2tm_router',
	'router-test-encryption-key',
	(database, nodeCredentials) => {
		db = database;
		credentials = nodeCredentials;
	},
);

const run = async (parameters: Record<string, unknown>, typeVersion = 1.1): Promise<IDataObject> =>
	(
		await node.execute.call(
			executeContext({
				parameters: { storage: 'postgres', ...parameters },
				credentials,
				typeVersion,
			}),
		)
	)[0][0].json;
const exchange = (connectionId: string) => stateLessExchange(connectionId);

describe('the item loop', () => {
	it('pairs every output with its input and, with Continue On Fail, turns each failure into an error item in place', async () => {
		rotatingTokenEndpoint();
		await run(exchange('router:a'));
		const parameters = [
			{ storage: 'postgres', operation: 'getValidToken', connectionId: 'router:a' },
			{ storage: 'postgres', operation: 'getValidToken', connectionId: '' },
			{ storage: 'postgres', operation: 'noSuchOperation', connectionId: 'router:a' },
			{ storage: 'postgres', operation: 'getValidToken', connectionId: 'router:missing' },
			{
				storage: 'postgres',
				operation: 'refreshToken',
				connectionId: 'router:a',
				force: false,
				failedAccessToken: 'an-older-token',
			},
		];
		const [items] = await node.execute.call(
			executeContext({
				items: parameters.map(() => ({ json: {} })),
				parameters: (i) => parameters[i],
				credentials,
				continueOnFail: true,
				typeVersion: 1.1,
			}),
		);
		expect(items.map((item) => item.pairedItem)).toEqual([0, 1, 2, 3, 4].map((item) => ({ item })));
		expect(items[0].json).toMatchObject({
			connectionId: 'router:a',
			access_token: 'SENTINEL-access-1',
		});
		expect(items[1].json).toEqual({
			error: 'The Connection ID is empty: set one per authorized account, e.g. "pipedrive:acme"',
			details: { description: 'Check the "Connection ID" field.', code: 'invalid_input' },
		});
		expect(items[2].json).toEqual({
			error: 'The operation "noSuchOperation" is not supported',
			details: { description: null, code: null },
		});
		expect(items[3].json).toEqual({
			error: expect.stringMatching(/^No connection "router:missing" in PostgreSQL table/),
			details: {
				description:
					'Connect the account first: start with "Build Authorization URL" for this connection ID (the Connect workflow) and complete the authorization, or check the connection ID for typos.',
				code: 'connection_not_found',
				connectionId: 'router:missing',
			},
		});
		// A failed token that is no longer the stored one: the stored token comes back, unrefreshed.
		expect(items[4].json).toMatchObject({
			connectionId: 'router:a',
			access_token: 'SENTINEL-access-1',
			refreshed: false,
		});
	});

	it('without Continue On Fail the first failure stops the run and names its item', async () => {
		const error = await node.execute
			.call(
				executeContext({
					items: [{ json: {} }, { json: {} }],
					parameters: (i) => ({
						storage: 'postgres',
						operation: i ? 'nope' : 'getValidToken',
						connectionId: 'router:a',
					}),
					credentials,
				}),
			)
			.catch((e) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toBe('The operation "nope" is not supported');
		expect(error.context.itemIndex).toBe(1);
	});
});

describe('many items in one execution', () => {
	/** One execution of Get Valid Token with an item per connection id asked. */
	const validTokensOf = (asked: string[], continueOnFail = false) =>
		node.execute.call(
			executeContext({
				items: asked.map(() => ({ json: {} })),
				parameters: (i) => ({
					storage: 'postgres',
					operation: 'getValidToken',
					connectionId: asked[i],
				}),
				credentials,
				continueOnFail,
				typeVersion: 1.1,
			}),
		);

	it('Get Valid Token over 300 items on 100 connections: one store read for all, each item paired with its own token', async () => {
		const endpoint = rotatingTokenEndpoint({ expiresIn: 3600 });
		const ids = Array.from({ length: 100 }, (_, i) => `router:many:${String(i).padStart(3, '0')}`);
		for (const id of ids) await run(exchange(id));
		const tokenOf = new Map(
			await Promise.all(
				ids.map(
					async (id) =>
						[
							id,
							(await run({ operation: 'getValidToken', connectionId: id })).access_token,
						] as const,
				),
			),
		);
		const requestsBefore = endpoint.requests.length;
		const reads = {
			getMany: jest.spyOn(SqlTokenStore.prototype, 'getMany'),
			get: jest.spyOn(SqlTokenStore.prototype, 'get'),
		};
		try {
			const asked = Array.from({ length: 300 }, (_, i) => ids[(i * 7) % 100]);
			const [items] = await validTokensOf(asked);
			expect(reads.getMany).toHaveBeenCalledTimes(1);
			expect(reads.get).not.toHaveBeenCalled();
			expect(endpoint.requests.length).toBe(requestsBefore);
			expect(items.map((item) => item.pairedItem)).toEqual(asked.map((_, item) => ({ item })));
			items.forEach((item, i) =>
				expect(item.json).toMatchObject({
					connectionId: asked[i],
					access_token: tokenOf.get(asked[i]),
					refreshed: false,
				}),
			);
		} finally {
			reads.getMany.mockRestore();
			reads.get.mockRestore();
		}
	});

	it('with Continue On Fail, a missing or empty connection fails in place among many; without it, the first failing item is named', async () => {
		rotatingTokenEndpoint();
		await run(exchange('router:many:ok'));
		const asked = ['router:many:ok', 'router:many:missing', 'router:many:ok', '', 'router:many:ok'];
		const [items] = await validTokensOf(asked, true);
		expect(items.map((item) => item.pairedItem)).toEqual(asked.map((_, item) => ({ item })));
		for (const i of [0, 2, 4])
			expect(items[i].json).toMatchObject({ connectionId: 'router:many:ok' });
		expect(items[1].json).toMatchObject({
			details: { code: 'connection_not_found', connectionId: 'router:many:missing' },
		});
		expect(items[3].json).toMatchObject({ details: { code: 'invalid_input' } });
		const error = await validTokensOf(asked).catch((e) => e);
		expect(error).toBeInstanceOf(NodeApiError);
		expect(error.message).toMatch(/No connection "router:many:missing"/);
		expect(error.context.itemIndex).toBe(1);
	});
});

describe('the Connection ID from an input field', () => {
	it("reads each item's own field (nested with dots, no expression); an item without it fails alone, naming the field", async () => {
		rotatingTokenEndpoint();
		await run(exchange('router:field:a'));
		await run(exchange('router:field:b'));
		const inputs = [
			{ query: { connectionId: 'router:field:a' } },
			{ query: { connectionId: 'router:field:b' } },
			{ query: {} },
			{ query: { connectionId: 42 } },
			{ other: true },
		];
		const [items] = await node.execute.call(
			executeContext({
				items: inputs.map((json) => ({ json })),
				parameters: {
					storage: 'postgres',
					operation: 'getValidToken',
					connectionId: locator('query.connectionId', 'field'),
				},
				credentials,
				continueOnFail: true,
				typeVersion: 1.2,
			}),
		);
		expect(items.map((item) => item.pairedItem)).toEqual(inputs.map((_, item) => ({ item })));
		expect(items[0].json).toMatchObject({ connectionId: 'router:field:a' });
		expect(items[1].json).toMatchObject({ connectionId: 'router:field:b' });
		expect(items[2].json).toMatchObject({
			error:
				'The Connection ID comes from the input field "query.connectionId", which item 3 does not have as text: check the field name, or the node before this one',
			details: { code: 'invalid_input' },
		});
		// A number is taken as its text: no such connection.
		expect(items[3].json).toMatchObject({
			details: { code: 'connection_not_found', connectionId: '42' },
		});
		expect(items[4].json).toMatchObject({ details: { code: 'invalid_input' } });

		// Over many items, a parameter that is no expression is read once, not per item: n8n resolves it on every read.
		const context = executeContext({
			items: Array.from({ length: 200 }, (_, i) => ({
				json: { query: { connectionId: `router:field:${i % 2 ? 'a' : 'b'}` } },
			})),
			parameters: {
				storage: 'postgres',
				operation: 'getValidToken',
				connectionId: locator('query.connectionId', 'field'),
			},
			credentials,
			typeVersion: 1.2,
		});
		const reads: Record<string, number> = {};
		const read = context.getNodeParameter.bind(context);
		context.getNodeParameter = ((name: string, ...rest: unknown[]) => {
			reads[name] = (reads[name] ?? 0) + 1;
			return (read as (...args: unknown[]) => unknown)(name, ...rest);
		}) as typeof context.getNodeParameter;
		const [many] = await node.execute.call(context);
		expect(many.map((item) => item.json.connectionId)).toEqual(
			Array.from({ length: 200 }, (_, i) => `router:field:${i % 2 ? 'a' : 'b'}`),
		);
		expect(reads.connectionId).toBe(200);
		for (const name of ['operation', 'storage', 'minValiditySeconds'])
			expect({ name, reads: reads[name] }).toEqual({ name, reads: expect.any(Number) });
		expect(Math.max(reads.operation, reads.storage, reads.minValiditySeconds)).toBeLessThanOrEqual(
			4,
		);

		const unnamed = await node.execute
			.call(
				executeContext({
					parameters: {
						storage: 'postgres',
						operation: 'getValidToken',
						connectionId: locator(' ', 'field'),
					},
					credentials,
					typeVersion: 1.2,
				}),
			)
			.catch((e) => e);
		expect(unnamed.message).toMatch(
			/names no input field: give the field that holds each item's connection ID/,
		);
	});
});

describe('output fields', () => {
	const connectionFields = ['connectionId', 'provider', 'status'];
	const tokenFields = ['token_type', 'expiresAt', 'expires_in', 'scope'];
	const ownFields = ['refreshed', 'refreshCount', 'lastRefreshedAt'];

	it("version 1.1: RFC 6749 names verbatim, camelCase for the node's own fields, connection and token first, provider fields last", async () => {
		const endpoint = rotatingTokenEndpoint();
		const start = await run({
			operation: 'buildAuthorizationUrl',
			connectionId: 'router:v11',
			authorizationOptions: {},
		});
		expect(Object.keys(start)).toEqual([
			'connectionId',
			'authorizationUrl',
			'state',
			'expiresAt',
			'pkce',
		]);

		const connected = await run(exchange('router:v11'));
		expect(Object.keys(connected)).toEqual([
			...connectionFields,
			...tokenFields,
			...ownFields,
			'api_domain',
		]);
		expect(connected).toMatchObject({
			connectionId: 'router:v11',
			token_type: 'Bearer',
			refreshed: false,
			refreshCount: 0,
			lastRefreshedAt: null,
			api_domain: 'https://acme.pipedrive.test',
		});
		expect(Date.parse(String(connected.expiresAt))).toBeGreaterThan(Date.now());

		const valid = await run({
			operation: 'getValidToken',
			connectionId: 'router:v11',
			minValiditySeconds: 300,
		});
		expect(Object.keys(valid)).toEqual([
			...connectionFields,
			'access_token',
			...tokenFields,
			...ownFields,
			'minValiditySeconds',
			'minValidityCapped',
			'api_domain',
		]);
		expect(valid).toMatchObject({
			access_token: 'SENTINEL-access-1',
			minValiditySeconds: 300,
			minValidityCapped: false,
		});

		const refreshed = await run({
			operation: 'refreshToken',
			connectionId: 'router:v11',
			force: true,
		});
		expect(Object.keys(refreshed)).toEqual([
			...connectionFields,
			'access_token',
			...tokenFields,
			...ownFields,
			'api_domain',
		]);
		expect(refreshed).toMatchObject({
			access_token: 'SENTINEL-access-2',
			refreshed: true,
			refreshCount: 1,
		});

		nock(PROVIDER_ORIGIN).post('/oauth/revoke').reply(200, '');
		const revoked = await run({
			operation: 'revoke',
			connectionId: 'router:v11',
			revokeAtProvider: true,
		});
		expect(Object.keys(revoked)).toEqual([
			...connectionFields,
			...tokenFields,
			...ownFields,
			'revokedAtProvider',
			'revokedTokenType',
			'api_domain',
		]);
		expect(revoked).toMatchObject({
			status: 'revoked',
			revokedAtProvider: true,
			revokedTokenType: 'refresh_token',
		});
		expect(JSON.stringify([connected, valid, refreshed, revoked])).not.toMatch(
			/"refresh_token":|SENTINEL-refresh|_at":|_count":|"min_validity/,
		);
		expect(endpoint.requests).toHaveLength(2);
	});

	it('version 1.3 revokes only here unless Revoke at Provider is turned on; a saved 1.2 node without the value revokes at the provider', async () => {
		const revokeCalls = () => nock(PROVIDER_ORIGIN).post('/oauth/revoke').reply(200, '');
		rotatingTokenEndpoint();
		await run({ ...exchange('router:v13'), connectionId: locator('router:v13') }, 1.3);
		const untouched = revokeCalls();
		const revoked = await run(
			{ operation: 'revoke', connectionId: locator('router:v13', 'list') },
			1.3,
		);
		expect(revoked).toMatchObject({ status: 'revoked', revokedAtProvider: false });
		expect(untouched.isDone()).toBe(false);
		nock.cleanAll();

		rotatingTokenEndpoint();
		await run(
			{ ...exchange('router:v12-revoke'), connectionId: locator('router:v12-revoke') },
			1.2,
		);
		const called = revokeCalls();
		expect(
			await run({ operation: 'revoke', connectionId: locator('router:v12-revoke', 'list') }, 1.2),
		).toMatchObject({ status: 'revoked', revokedAtProvider: true });
		expect(called.isDone()).toBe(true);
	});

	it("version 1.2 reads its Connection ID from the resource locator (either mode) and outputs by 1.1's rule", async () => {
		rotatingTokenEndpoint();
		await run({ ...exchange('router:v12'), connectionId: locator('router:v12') }, 1.2);
		const valid = await run(
			{
				operation: 'getValidToken',
				connectionId: locator('router:v12', 'list'),
				minValiditySeconds: 300,
			},
			1.2,
		);
		expect(valid.connectionId).toBe('router:v12');
		expect(Object.keys(valid)).toEqual([
			...connectionFields,
			'access_token',
			...tokenFields,
			...ownFields,
			'minValiditySeconds',
			'minValidityCapped',
			'api_domain',
		]);
		const empty = await node.execute
			.call(
				executeContext({
					parameters: {
						storage: 'postgres',
						operation: 'getValidToken',
						connectionId: locator('', 'list'),
					},
					credentials,
					typeVersion: 1.2,
				}),
			)
			.catch((e) => e);
		expect(empty.message).toBe(
			'The Connection ID is empty: set one per authorized account, e.g. "pipedrive:acme"',
		);
	});

	it('version 1 keeps the names and order saved workflows read', async () => {
		rotatingTokenEndpoint();
		const start = await run(
			{ operation: 'buildAuthorizationUrl', connectionId: 'router:v1', authorizationOptions: {} },
			1,
		);
		expect(Object.keys(start)).toEqual([
			'connectionId',
			'authorizationUrl',
			'state',
			'expires_at',
			'pkce',
		]);
		await run(exchange('router:v1'), 1);
		const valid = await run(
			{ operation: 'getValidToken', connectionId: 'router:v1', minValiditySeconds: 300 },
			1,
		);
		expect(Object.keys(valid)).toEqual([
			'api_domain',
			'connectionId',
			'provider',
			'status',
			'access_token',
			'token_type',
			'expires_at',
			'expires_in',
			'scope',
			'refreshed',
			'refresh_count',
			'last_refreshed_at',
			'min_validity_seconds',
			'min_validity_capped',
		]);
	});

	it("a provider field named like one of the node's never replaces it", async () => {
		nock(PROVIDER_ORIGIN).post('/oauth/token').reply(200, {
			access_token: 'SENTINEL-access-x',
			token_type: 'Bearer',
			expires_in: 3600,
			refresh_token: 'SENTINEL-refresh-x',
			status: 'provider-status',
		});
		const app = {
			...credentials.oAuth2TokenManagerAppApi,
			keepResponseFields: 'api_domain,status',
		};
		const [[item]] = await node.execute.call(
			executeContext({
				parameters: { storage: 'postgres', ...exchange('router:clash') },
				credentials: { ...credentials, oAuth2TokenManagerAppApi: app },
				typeVersion: 1.1,
			}),
		);
		expect(item.json.status).toBe('active');
		expect(Object.keys(item.json).filter((key) => key === 'status')).toHaveLength(1);
	});

	it("as an AI agent's tool, version 1.1 answers with status and expiry under the same rule", async () => {
		rotatingTokenEndpoint();
		await run(exchange('router:tool'));
		const [[item]] = await node.execute.call(
			executeContext({
				parameters: {
					storage: 'postgres',
					operation: 'getValidToken',
					connectionId: 'router:tool',
				},
				credentials,
				asAgentTool: true,
				typeVersion: 1.1,
			}),
		);
		expect(Object.keys(item.json)).toEqual([
			'connectionId',
			'status',
			'expiresAt',
			'expires_in',
			'refreshed',
		]);
	});
});

describe("engine errors in n8n's words", () => {
	const mapped = (error: unknown, withLink = false) => toNodeError(n8nNode, error, 3, withLink);

	it('bad input is a NodeOperationError naming the field, where it is, and how to fill it when empty', () => {
		const cases: Array<[InvalidInputError, string, string]> = [
			[
				new MissingInputError('connectionId'),
				'The Connection ID is empty: set one per authorized account, e.g. "pipedrive:acme"',
				'Check the "Connection ID" field.',
			],
			[
				new MissingInputError('code'),
				'The Authorization Code is empty: map it from the callback, e.g. {{ $json.query.code }}',
				'Check the "Authorization Code" field.',
			],
			[
				new MissingInputError('redirectUri'),
				'The Redirect URI is empty: set it in the App credential to the exact callback URL registered with the provider',
				'Check the "Redirect URI" field in the App credential.',
			],
			[
				new MissingInputError('tokenUrl'),
				'The Token URL is empty: set it in the App credential (needed for the Custom preset)',
				'Check the "Token URL" field in the App credential.',
			],
			[
				new MissingInputError('authorizationUrl'),
				'The Authorization URL is empty: set it in the App credential (needed for the Custom preset)',
				'Check the "Authorization URL" field in the App credential.',
			],
			[
				new InvalidInputError('minValiditySeconds', 'must be a number of seconds, 0 or more'),
				'The Minimum Validity (Seconds) must be a number of seconds, 0 or more',
				'Check the "Minimum Validity (Seconds)" field.',
			],
			[
				new InvalidInputError('tokenUrl', 'is not an absolute https:// URL'),
				'The Token URL is not an absolute https:// URL',
				'Check the "Token URL" field in the App credential.',
			],
			[
				new InvalidInputError(
					'encryptionKey',
					'must be at least 16 characters long (use e.g. openssl rand -base64 32)',
				),
				'The Token Encryption Key must be at least 16 characters long (use e.g. openssl rand -base64 32)',
				'Check the "Token Encryption Key" field in the storage credential.',
			],
			[
				new MissingInputError('database'),
				'The Database is empty: enter the database of the token table',
				'Check the "Database" field in the MySQL storage credential.',
			],
		];
		for (const [error, message, description] of cases) {
			const nodeError = mapped(error);
			expect(nodeError).toBeInstanceOf(NodeOperationError);
			expect({
				message: nodeError.message,
				description: nodeError.description,
				itemIndex: nodeError.context.itemIndex,
			}).toEqual({ message, description, itemIndex: 3 });
		}
	});

	const root = join(__dirname, '..', '..');
	const sources = (dir: string): string[] =>
		readdirSync(dir).flatMap((name) => {
			const path = join(dir, name);
			return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
		});

	it('every input key the engine and the node raise has a field label', () => {
		const keys = new Set<string>();
		for (const file of [...sources(join(root, 'engine')), ...sources(join(root, 'nodes'))]) {
			for (const match of readFileSync(file, 'utf8').matchAll(
				/(?:InvalidInputError|MissingInputError|requireSecureUrl|deriveKey)\(\s*'(\w+)'/g,
			))
				keys.add(match[1]);
		}
		expect(keys.size).toBeGreaterThan(10);
		// Engine options the node leaves at their defaults: no field of the node can hold a wrong value.
		const notSetByTheNode = ['failingAfterMs'];
		expect(
			[...keys].filter(
				(key) => inputFieldLabel(key) === undefined && !notSetByTheNode.includes(key),
			),
		).toEqual([]);
	});

	it('the engine speaks of its own concepts only: no credential, node field, operation or expression in its messages', () => {
		const n8nWords =
			/App credential|\{\{|Connection ID|Minimum Validity|Authorization Code|Build Authorization URL|Exchange Authorization Code|Allow Missing State|Token Encryption Key|workflow "Connect"|Revoke at Provider|this node|this n8n|n8n host|from n8n|by n8n|n8n can|in the credential|the node then/;
		const engineFiles = sources(join(root, 'engine'));
		expect(engineFiles.length).toBeGreaterThan(15);
		const offending = engineFiles.flatMap((file) =>
			readFileSync(file, 'utf8')
				.split('\n')
				.filter((line) => !/^\s*(\/\/|\/?\*)/.test(line) && n8nWords.test(line))
				.map((line) => `${file.slice(root.length + 1)}: ${line.trim()}`),
		);
		expect(offending).toEqual([]);
	});

	it('a callback state refused for each reason says what to do in the node', () => {
		const hints: { [R in InvalidStateReason]: RegExp } = {
			missing: /"Build Authorization URL".*"Allow Missing State"/,
			malformed: /^Start the authorization again \(Build Authorization URL\)/,
			tampered: /^Start the authorization again \(Build Authorization URL\)/,
			outdated: /^Start the authorization again \(Build Authorization URL\)/,
			expired: /^Start the authorization again \(Build Authorization URL\)/,
			replayed: /^Start the authorization again \(Build Authorization URL\)/,
			issued_in_future: /^Synchronize the clocks of every n8n host \(NTP\)/,
			other_connection: /leave Connection ID empty to take it from the state/,
			other_store:
				/^Give Exchange Authorization Code the storage credential that Build Authorization URL used/,
		};
		for (const [reason, hint] of Object.entries(hints) as Array<[InvalidStateReason, RegExp]>) {
			const nodeError = mapped(
				new InvalidStateError(reason, `The state is refused (${reason})`, 'engine hint'),
			);
			expect(nodeError).toBeInstanceOf(NodeOperationError);
			expect(nodeError.message).toBe(`The state is refused (${reason})`);
			expect(nodeError.description).toMatch(hint);
		}
	});

	it('a connection of another app is a NodeOperationError naming the App credential', () => {
		const nodeError = mapped(new AppMismatchError('acme', 'the app A', 'the app B'));
		expect(nodeError).toBeInstanceOf(NodeOperationError);
		expect(nodeError.message).toBe(
			'Connection "acme" was authorized through the app A, but this App credential is the app B. Nothing was sent to any provider and the connection is unchanged.',
		);
		expect(nodeError.description).toMatch(
			/^Use the App credential the connection was authorized with; .*\(Build Authorization URL, then Exchange Authorization Code\)/,
		);
	});

	// n8n's NodeApiError takes the engine's code as its httpCode where no HTTP status applies.
	it("provider and store failures are NodeApiErrors with the node's advice and the provider's HTTP status", () => {
		const cases: Array<[Error, string | undefined, string | undefined]> = [
			[
				new ConnectionNotFoundError('acme', 'PostgreSQL table t on h'),
				'Connect the account first: start with "Build Authorization URL" for this connection ID (the Connect workflow) and complete the authorization, or check the connection ID for typos.',
				'connection_not_found',
			],
			[
				new ConnectionRevokedError('acme'),
				'Connect the account again to use it: start with "Build Authorization URL" (the Connect workflow) and complete the authorization.',
				'revoked',
			],
			[
				new DecryptionError(
					'The stored access token of connection "acme" failed its integrity check',
				),
				'Use the Token Encryption Key the connection was stored with (put it in Previous Token Encryption Keys to rotate), or authorize the connection again.',
				'decryption_failed',
			],
			[
				new NeedsReauthorizationError('acme', 'the provider rejected the refresh token'),
				'Send the account owner through the authorization flow again (workflow "Connect"); until then this connection is not refreshed.',
				'needs_reauth',
			],
			[
				new TokenEndpointError(
					'refused',
					{ error: 'invalid_client', httpStatus: 401 },
					'engine hint',
				),
				'Check the Client ID and Client Secret in the OAuth2 Token Manager App credential, and its Client Authentication setting.',
				'401',
			],
			[
				new TokenEndpointError(
					'refused',
					{ error: 'invalid_scope', httpStatus: 400 },
					'engine hint',
				),
				'Check the Scopes in the OAuth2 Token Manager App credential.',
				'400',
			],
			[
				new TokenEndpointError(
					'refused',
					{ error: 'invalid_grant', httpStatus: 400 },
					'The refresh token is invalid.',
				),
				'The refresh token is invalid.',
				'400',
			],
			[
				new TokenEndpointError('down', {}, 'Check that it is reachable.'),
				'Check that it is reachable.',
				'token_endpoint_error',
			],
			[new StoreError('The database is down', 'Check the host.'), 'Check the host.', 'store_error'],
			[
				new LeaseTimeoutError('acme', 30_000),
				new LeaseTimeoutError('acme', 30_000).description,
				'lease_timeout',
			],
			[
				new ProviderFailingError(
					'acme',
					new Date('2026-11-27T10:00:30.000Z'),
					2,
					'The token endpoint answered HTTP 503',
				),
				"The node does not call the provider again before 2026-11-27T10:00:30.000Z, and the stored access token has expired. Retry after that time (e.g. with the node's Retry On Fail and a wait between tries); the account does not need to be authorized again.",
				'provider_failing',
			],
		];
		for (const [error, description, httpCode] of cases) {
			const nodeError = mapped(error) as NodeApiError;
			expect(nodeError).toBeInstanceOf(NodeApiError);
			expect({
				message: nodeError.message,
				description: nodeError.description,
				httpCode: nodeError.httpCode ?? undefined,
			}).toEqual({ message: error.message, description, httpCode });
			expect(nodeError.context.itemIndex).toBe(3);
		}
	});

	it('the re-authorization link is added only where the caller may see it', () => {
		const error = new NeedsReauthorizationError(
			'acme',
			'the grant was revoked',
			'https://provider.test/oauth/authorize?state=s',
		);
		expect(mapped(error, true).description).toMatch(
			/ Re-authorization link: https:\/\/provider\.test\/oauth\/authorize\?state=s$/,
		);
		expect(mapped(error, false).description).not.toMatch(/state=s/);
	});

	it("anything else is a NodeOperationError with its message; n8n's own errors pass through", () => {
		expect(mapped(new Error('boom'))).toMatchObject({ message: 'boom' });
		expect(mapped(new Error('boom'))).toBeInstanceOf(NodeOperationError);
		const own = new NodeOperationError(n8nNode, 'already worded');
		expect(mapped(own)).toBe(own);
	});

	it('credential tests show the same words', () => {
		expect(describeEngineError(new MissingInputError('tokenUrl'))).toEqual({
			message:
				'The Token URL is empty: set it in the App credential (needed for the Custom preset)',
			description: 'Check the "Token URL" field in the App credential.',
			isSetting: true,
		});
	});
});

describe('Build Authorization URL, before the account owner consents', () => {
	const start = (
		connectionId: string,
		overrides: Record<string, ICredentialDataDecryptedObject> = {},
	) =>
		node.execute.call(
			executeContext({
				parameters: {
					storage: 'postgres',
					operation: 'buildAuthorizationUrl',
					connectionId,
					authorizationOptions: {},
				},
				credentials: { ...credentials, ...overrides },
			}),
		);

	it('fails at once, in the words Exchange would use, when the store does not answer', async () => {
		const closedPort = { ...credentials.oAuth2TokenManagerPostgresApi, port: 9 };
		const error = await start('router:consent-store', {
			oAuth2TokenManagerPostgresApi: closedPort,
		}).catch((e) => e);
		expect(error).toBeInstanceOf(NodeApiError);
		expect(JSON.stringify(error.messages ?? [])).toContain('PostgreSQL');
	});

	it('fails at once when the App credential lacks what the code exchange needs', async () => {
		const app = credentials.oAuth2TokenManagerAppApi;
		await expect(
			start('router:consent-app', { oAuth2TokenManagerAppApi: { ...app, clientSecret: '' } }),
		).rejects.toThrow(
			"The Client Secret is empty: enter the client secret from the provider's app settings",
		);
		await expect(
			start('router:consent-app', { oAuth2TokenManagerAppApi: { ...app, tokenUrl: '' } }),
		).rejects.toThrow('The Token URL is empty');
	});

	it('builds the link once both are fine, without writing the connection', async () => {
		const [[item]] = await start('router:consent-ok');
		expect(String(item.json.authorizationUrl)).toContain('state=');
		expect(
			await db.sql(
				`select count(*)::int as n from oauth2_tokens where connection_id = 'router:consent-ok'`,
			),
		).toEqual([{ n: 0 }]);
	});
});

describe('an empty Client Secret, whichever operation asks for tokens', () => {
	it('is named before any request to the provider: Exchange, Get Valid Token (when it must refresh), Refresh, Client Credentials', async () => {
		rotatingTokenEndpoint();
		await run({ ...exchange('router:no-secret') }, 1.3);
		nock.cleanAll();
		// the stored access token has expired: Get Valid Token must refresh
		await db.sql(
			`update oauth2_tokens set expires_at = now() - interval '1 minute' where connection_id = 'router:no-secret'`,
		);
		const noSecret = {
			...credentials,
			oAuth2TokenManagerAppApi: { ...credentials.oAuth2TokenManagerAppApi, clientSecret: '' },
		};
		const provider = nock(PROVIDER_ORIGIN).post(/.*/).reply(500, 'must not be asked');
		const attempt = (parameters: Record<string, unknown>) =>
			node.execute
				.call(
					executeContext({
						parameters: { storage: 'postgres', ...parameters },
						credentials: noSecret,
						typeVersion: 1.3,
					}),
				)
				.catch((e) => e);
		const attempts = [
			{ ...exchange('router:no-secret-2'), connectionId: locator('router:no-secret-2') },
			{ operation: 'getValidToken', connectionId: locator('router:no-secret') },
			{ operation: 'refreshToken', connectionId: locator('router:no-secret'), force: true },
			{ operation: 'connectClientCredentials', connectionId: locator('router:no-secret-cc') },
		];
		for (const parameters of attempts) {
			const error = await attempt(parameters);
			expect([parameters.operation, error]).toEqual([
				parameters.operation,
				expect.any(NodeOperationError),
			]);
			expect(error.message).toBe(
				"The Client Secret is empty: enter the client secret from the provider's app settings",
			);
			expect(error.description).toBe('Check the "Client Secret" field in the App credential.');
		}
		expect(provider.isDone()).toBe(false);
	});
});

describe('Revoke / Disconnect in the panel', () => {
	it('the Revoke at Provider notice says what the switch does for every provider preset', () => {
		const notice = node.description.properties.find((p) => p.name === 'revokeAtProviderNotice');
		expect(notice?.type).toBe('notice');
		for (const preset of Object.values(PROVIDER_PRESETS))
			expect(notice?.displayName).toContain(`${preset.name}:`);
		expect(notice?.displayName).toMatch(/Pipedrive: uninstalls the app from the company/);
		expect(notice?.displayName).toMatch(/with no Revocation URL set, the switch has no effect/);
	});
});
