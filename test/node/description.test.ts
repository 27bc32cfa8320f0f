import {
	NodeHelpers,
	Workflow,
	type INode,
	type INodeCredentialDescription,
	type INodeTypes,
} from 'n8n-workflow';
import { OAuth2TokenManagerEmbeddedApi } from '../../credentials/OAuth2TokenManagerEmbeddedApi.credentials';
import { OAuth2TokenManagerMySqlApi } from '../../credentials/OAuth2TokenManagerMySqlApi.credentials';
import { OAuth2TokenManagerPostgresApi } from '../../credentials/OAuth2TokenManagerPostgresApi.credentials';
import { OAuth2TokenManagerSupabaseApi } from '../../credentials/OAuth2TokenManagerSupabaseApi.credentials';
import { OAuth2TokenManager } from '../../nodes/OAuth2TokenManager/OAuth2TokenManager.node';
import {
	APP_CREDENTIAL,
	STORAGE_CREDENTIALS,
	type Storage,
} from '../../nodes/OAuth2TokenManager/transport/credentials';
import { defaultStorage } from '../../nodes/OAuth2TokenManager/actions/versions';

const { description } = new OAuth2TokenManager();
const credentials = description.credentials as INodeCredentialDescription[];
const storageProperty = description.properties.find((p) => p.name === 'storage');

/** The credential slots n8n shows and requires for these parameters (n8n-workflow's own display rules). */
function slotsFor(parameters: Record<string, string>, typeVersion = 1): string[] {
	const values =
		NodeHelpers.getNodeParameters(
			description.properties,
			parameters,
			true,
			false,
			{ typeVersion },
			description,
		) ?? {};
	return credentials
		.filter((c) => NodeHelpers.displayParameter(values, c, { typeVersion }, description))
		.map((c) => c.name);
}

/** The properties of this name n8n shows for these parameters. */
function shown(name: string, parameters: Record<string, unknown>, typeVersion: number) {
	return description.properties.filter(
		(p) =>
			p.name === name &&
			NodeHelpers.displayParameter(parameters as never, p, { typeVersion }, description),
	);
}

describe("the node's credential slots", () => {
	it('each Storage option shows the App slot and exactly its own storage slot', () => {
		const storages = (storageProperty?.options ?? []).map((o) => (o as { value: Storage }).value);
		expect(storages.sort()).toEqual(Object.keys(STORAGE_CREDENTIALS).sort());
		for (const storage of storages)
			expect(slotsFor({ storage })).toEqual([APP_CREDENTIAL, STORAGE_CREDENTIALS[storage]]);
		// a saved node without a storage parameter keeps the default store it always had
		expect(storageProperty?.default).toBe('supabase');
		for (const typeVersion of [1, 1.1, 1.2])
			expect(slotsFor({}, typeVersion)).toEqual([APP_CREDENTIAL, STORAGE_CREDENTIALS.supabase]);
	});

	it('a new node (version 1.3) starts on the embedded store, which needs nothing set up; saved nodes keep Supabase', () => {
		const storageDefault = (typeVersion: number) =>
			NodeHelpers.getNodeParameters(
				description.properties,
				{},
				true,
				false,
				{ typeVersion },
				description,
			)?.storage;
		expect(storageDefault(1.3)).toBe('embedded');
		for (const typeVersion of [1, 1.1, 1.2]) expect(storageDefault(typeVersion)).toBe('supabase');
		// so the slot n8n fills with the only credential of its type is the embedded store's
		expect(slotsFor({}, 1.3)).toEqual([APP_CREDENTIAL, STORAGE_CREDENTIALS.embedded]);
		// one Storage field shown in each version, with the same options
		for (const typeVersion of [1, 1.2, 1.3])
			expect(shown('storage', {}, typeVersion)).toHaveLength(1);
		expect(shown('storage', {}, 1.3)[0].options).toEqual(storageProperty?.options);
		// what the node runs with when n8n hands it no Storage value
		expect(defaultStorage(1.3)).toBe('embedded');
		expect(defaultStorage(1.2)).toBe('supabase');
	});

	it('Revoke at Provider is off for new nodes and says what on does; saved nodes keep it on', () => {
		const revokeDefault = (typeVersion: number) =>
			NodeHelpers.getNodeParameters(
				description.properties,
				{ operation: 'revoke' },
				true,
				false,
				{ typeVersion },
				description,
			)?.revokeAtProvider;
		expect(revokeDefault(1.3)).toBe(false);
		for (const typeVersion of [1, 1.1, 1.2]) expect(revokeDefault(typeVersion)).toBe(true);
		for (const typeVersion of [1.2, 1.3]) {
			const [field, ...more] = shown('revokeAtProvider', { operation: 'revoke' }, typeVersion);
			expect(more).toEqual([]);
			expect(field.description).toMatch(
				/On: the grant ends at the provider too \(for Pipedrive this uninstalls the app from the company\) and the account must be connected again\. Off: only the tokens stored here are erased\./,
			);
		}
	});

	it('Get Connection and List Connections ask for the storage credential alone: they read the store, never a provider', () => {
		for (const operation of ['getConnection', 'listConnections']) {
			expect(slotsFor({ storage: 'postgres', operation }, 1.2)).toEqual([
				STORAGE_CREDENTIALS.postgres,
			]);
		}
		for (const operation of [
			'buildAuthorizationUrl',
			'exchangeAuthorizationCode',
			'getValidToken',
			'refreshToken',
			'revoke',
			'keepAlive',
			'connectClientCredentials',
		]) {
			expect(slotsFor({ storage: 'postgres', operation }, 1.2)).toEqual([
				APP_CREDENTIAL,
				STORAGE_CREDENTIALS.postgres,
			]);
		}
	});

	it('every slot is labelled for what it holds, and no slot is shown *by* a parameter', () => {
		const labels = Object.fromEntries(credentials.map((c) => [c.name, c.displayName]));
		expect(labels[APP_CREDENTIAL]).toBe('OAuth App');
		for (const name of Object.values(STORAGE_CREDENTIALS))
			expect(labels[name]).toMatch(/^.+ Token Storage$/);
		// n8n's editor takes a parameter that credentials are shown by for the node's authentication: it then hides
		// that parameter and mixes every store's credentials into every slot. The browser test shows the outcome.
		expect(credentials.filter((c) => c.displayOptions?.show)).toEqual([]);
	});
});

describe("the node's versions", () => {
	it('new nodes get version 1.3; saved version 1, 1.1 and 1.2 nodes keep running as they were saved', () => {
		expect(description.version).toEqual([1, 1.1, 1.2, 1.3]);
		expect(description.defaultVersion).toBe(1.3);
	});

	const offered = (typeVersion: number) =>
		shown('operation', {}, typeVersion)
			.flatMap((p) =>
				(p.options ?? []).filter((o) =>
					NodeHelpers.displayParameter({}, o, { typeVersion }, description),
				),
			)
			.map((o) => (o as { value: string }).value);

	it('the lifecycle operations come with version 1.2; the older versions offer what they always did', () => {
		const always = [
			'buildAuthorizationUrl',
			'exchangeAuthorizationCode',
			'getValidToken',
			'refreshToken',
			'revoke',
		];
		expect(offered(1)).toEqual(always);
		expect(offered(1.1)).toEqual(always);
		expect(offered(1.2)).toEqual([
			'apiRequest',
			'buildAuthorizationUrl',
			'connectClientCredentials',
			'exchangeAuthorizationCode',
			'getConnection',
			'getValidToken',
			'keepAlive',
			'listConnections',
			'refreshToken',
			'revoke',
		]);
	});

	it('versions 1 and 1.1 keep Connection ID a text field, so saved nodes keep their value as it is', () => {
		for (const typeVersion of [1, 1.1]) {
			for (const operation of ['getValidToken', 'exchangeAuthorizationCode']) {
				expect(shown('connectionId', { operation }, typeVersion).map((p) => p.type)).toEqual([
					'string',
				]);
			}
		}
	});
});

describe('the Connection ID in version 1.2: a resource locator', () => {
	const locatorFor = (operation: string) => {
		const [field, ...more] = shown('connectionId', { operation }, 1.2);
		expect(more).toEqual([]);
		return field;
	};

	it("picks a connection from a searchable list of the store (n8n's listSearch), takes it by ID (typed or mapped), or reads it from an input field", () => {
		const field = locatorFor('getValidToken');
		expect(field.type).toBe('resourceLocator');
		expect(field.default).toEqual({ mode: 'list', value: '' });
		expect(field.modes?.map((m) => [m.name, m.displayName, m.type])).toEqual([
			['list', 'From List', 'list'],
			['id', 'By ID', 'string'],
			['field', 'From Input Field', 'string'],
		]);
		const search = field.modes![0].typeOptions!;
		expect(search.searchable).toBe(true);
		expect(Object.keys(new OAuth2TokenManager().methods.listSearch)).toContain(
			search.searchListMethod,
		);
		for (const operation of ['getConnection', 'refreshToken', 'revoke'])
			expect(locatorFor(operation)).toEqual(field);
	});

	it('starts "By ID" where a connection is made, and is optional on the callback (the state names the connection)', () => {
		for (const operation of ['buildAuthorizationUrl', 'connectClientCredentials']) {
			expect(locatorFor(operation)).toMatchObject({
				type: 'resourceLocator',
				default: { mode: 'id', value: '' },
				required: true,
			});
		}
		const callback = locatorFor('exchangeAuthorizationCode');
		expect(callback).toMatchObject({
			type: 'resourceLocator',
			default: { mode: 'id', value: '' },
			required: false,
		});
		expect(callback.description).toMatch(/state query parameter of the callback/);
		// The callback's connection comes from its signed state: there is no input field to name it.
		expect(callback.modes?.map((m) => m.name)).toEqual(['list', 'id']);
		expect(locatorFor('buildAuthorizationUrl').modes?.map((m) => m.name)).toContain('field');
	});

	it('is not asked for by List Connections and Keep Alive, which work on the whole store', () => {
		expect(shown('connectionId', { operation: 'listConnections' }, 1.2)).toEqual([]);
		expect(shown('connectionId', { operation: 'keepAlive' }, 1.2)).toEqual([]);
	});
});

describe('the node on the canvas and in the panel', () => {
	const nodeTypes = {
		getByName: () => new OAuth2TokenManager(),
		getByNameAndVersion: () => new OAuth2TokenManager(),
		getKnownTypes: () => ({}),
	} as unknown as INodeTypes;

	/** The subtitle as n8n evaluates it for a node with these parameters. */
	function subtitle(parameters: Record<string, string>): unknown {
		const node: INode = {
			id: 'n1',
			name: 'Token',
			type: 'oAuth2TokenManager',
			typeVersion: 1,
			position: [0, 0],
			parameters,
		};
		const workflow = new Workflow({ nodes: [node], connections: {}, active: false, nodeTypes });
		return workflow.expression.getSimpleParameterValue(
			node,
			description.subtitle as string,
			'internal',
			{},
		);
	}

	it('the subtitle names the operation, and the connection when it is typed in', () => {
		expect(subtitle({ operation: 'getValidToken', connectionId: 'pipedrive:acme' })).toBe(
			'Get Valid Token · pipedrive:acme',
		);
		// version 1.2: the resource locator's value
		expect(
			subtitle({
				operation: 'getConnection',
				connectionId: { __rl: true, mode: 'list', value: 'pipedrive:acme' },
			} as never),
		).toBe('Get Connection · pipedrive:acme');
		expect(
			subtitle({
				operation: 'getConnection',
				connectionId: { __rl: true, mode: 'id', value: '={{ $json.id }}' },
			} as never),
		).toBe('Get Connection');
		expect(subtitle({ operation: 'listConnections' })).toBe('List Connections');
		expect(subtitle({ operation: 'revoke', connectionId: '={{ $json.connectionId }}' })).toBe(
			'Revoke / Disconnect',
		);
		expect(subtitle({ operation: 'exchangeAuthorizationCode', connectionId: '' })).toBe(
			'Exchange Authorization Code',
		);
	});

	it('the Connection ID hint speaks of the callback state only on Exchange Authorization Code', () => {
		const shownFor = (operation: string) => shown('connectionId', { operation }, 1);
		for (const operation of ['buildAuthorizationUrl', 'getValidToken', 'refreshToken', 'revoke']) {
			const [field, ...more] = shownFor(operation);
			expect(more).toEqual([]);
			expect(field.description).not.toMatch(/state|callback/i);
		}
		const [exchange, ...more] = shownFor('exchangeAuthorizationCode');
		expect(more).toEqual([]);
		expect(exchange.description).toMatch(/state query parameter of the callback/);
	});
});

describe('the storage credential forms', () => {
	const storageTypes = [
		new OAuth2TokenManagerSupabaseApi(),
		new OAuth2TokenManagerPostgresApi(),
		new OAuth2TokenManagerMySqlApi(),
		new OAuth2TokenManagerEmbeddedApi(),
	];

	it('the Token Encryption Key says, in one line, the command that makes one', () => {
		for (const type of storageTypes) {
			const key = type.properties.find((p) => p.name === 'encryptionKey')!;
			expect(key.description).toMatch(
				/^Generate one in a terminal with: openssl rand -base64 32 \(/,
			);
		}
	});

	it('the Supabase form names the SQL it needs, in the order to run it, before its first field', () => {
		const [notice, first] = new OAuth2TokenManagerSupabaseApi().properties;
		expect(notice.type).toBe('notice');
		expect(notice.displayName).toMatch(
			/SQL Editor, in this order: sql\/postgres\.sql \(the token tables\), then sql\/supabase\.sql \(row level security/,
		);
		expect(first.name).toBe('host');
	});
});
