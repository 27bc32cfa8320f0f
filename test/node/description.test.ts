import { NodeHelpers, Workflow, type INode, type INodeCredentialDescription, type INodeTypes } from 'n8n-workflow';
import { OAuth2TokenManager } from '../../nodes/OAuth2TokenManager/OAuth2TokenManager.node';
import { APP_CREDENTIAL, STORAGE_CREDENTIALS, type Storage } from '../../nodes/OAuth2TokenManager/methods/engineFromCredentials';

const { description } = new OAuth2TokenManager();
const credentials = description.credentials as INodeCredentialDescription[];
const storageProperty = description.properties.find((p) => p.name === 'storage');

/** The credential slots n8n shows and requires for these parameters (n8n-workflow's own display rules). */
function slotsFor(parameters: Record<string, string>): string[] {
	const values = NodeHelpers.getNodeParameters(description.properties, parameters, true, false, { typeVersion: 1 }, description) ?? {};
	return credentials.filter((c) => NodeHelpers.displayParameter(values, c, { typeVersion: 1 }, description)).map((c) => c.name);
}

describe('the node\'s credential slots', () => {
	it('each Storage option shows the App slot and exactly its own storage slot', () => {
		const storages = (storageProperty?.options ?? []).map((o) => (o as { value: Storage }).value);
		expect(storages.sort()).toEqual(Object.keys(STORAGE_CREDENTIALS).sort());
		for (const storage of storages) expect(slotsFor({ storage })).toEqual([APP_CREDENTIAL, STORAGE_CREDENTIALS[storage]]);
		// a saved node without a storage parameter keeps the default store it always had
		expect(storageProperty?.default).toBe('supabase');
		expect(slotsFor({})).toEqual([APP_CREDENTIAL, STORAGE_CREDENTIALS.supabase]);
	});

	it('every slot is labelled for what it holds, and no slot is shown *by* a parameter', () => {
		const labels = Object.fromEntries(credentials.map((c) => [c.name, c.displayName]));
		expect(labels[APP_CREDENTIAL]).toBe('OAuth App');
		for (const name of Object.values(STORAGE_CREDENTIALS)) expect(labels[name]).toMatch(/^.+ Token Storage$/);
		// n8n's editor takes a parameter that credentials are shown by for the node's authentication: it then hides
		// that parameter and mixes every store's credentials into every slot. The browser test shows the outcome.
		expect(credentials.filter((c) => c.displayOptions?.show)).toEqual([]);
	});
});

describe('the node\'s versions', () => {
	it('new nodes get version 1.1 (camelCase own output fields); saved version 1 nodes keep running as version 1', () => {
		expect(description.version).toEqual([1, 1.1]);
		expect(description.defaultVersion).toBe(1.1);
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
		const node: INode = { id: 'n1', name: 'Token', type: 'oAuth2TokenManager', typeVersion: 1, position: [0, 0], parameters };
		const workflow = new Workflow({ nodes: [node], connections: {}, active: false, nodeTypes });
		return workflow.expression.getSimpleParameterValue(node, description.subtitle as string, 'internal', {});
	}

	it('the subtitle names the operation, and the connection when it is typed in', () => {
		expect(subtitle({ operation: 'getValidToken', connectionId: 'pipedrive:acme' })).toBe('Get Valid Token · pipedrive:acme');
		expect(subtitle({ operation: 'revoke', connectionId: '={{ $json.connectionId }}' })).toBe('Revoke / Disconnect');
		expect(subtitle({ operation: 'exchangeAuthorizationCode', connectionId: '' })).toBe('Exchange Authorization Code');
	});

	it('the Connection ID hint speaks of the callback state only on Exchange Authorization Code', () => {
		const shown = (operation: string) =>
			description.properties.filter((p) => p.name === 'connectionId' && NodeHelpers.displayParameter({ operation }, p, { typeVersion: 1 }, description));
		for (const operation of ['buildAuthorizationUrl', 'getValidToken', 'refreshToken', 'revoke']) {
			const [field, ...more] = shown(operation);
			expect(more).toEqual([]);
			expect(field.description).not.toMatch(/state|callback/i);
		}
		const [exchange, ...more] = shown('exchangeAuthorizationCode');
		expect(more).toEqual([]);
		expect(exchange.description).toMatch(/state query parameter of the callback/);
	});
});
