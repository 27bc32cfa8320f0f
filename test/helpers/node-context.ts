import type { ICredentialDataDecryptedObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

/**
 * The slice of n8n's execution context the node reads, for running OAuth2TokenManager.execute in a test
 * (real n8n runs it in the end-to-end suite). Parameters may differ per item: pass a function.
 */
export function executeContext(options: {
	items?: INodeExecutionData[];
	parameters: Record<string, unknown> | ((itemIndex: number) => Record<string, unknown>);
	credentials: Record<string, ICredentialDataDecryptedObject>;
	continueOnFail?: boolean;
}): IExecuteFunctions {
	const parametersFor = (i: number) => (typeof options.parameters === 'function' ? options.parameters(i) : options.parameters);
	return {
		getInputData: () => options.items ?? [{ json: {} }],
		getNodeParameter: (name: string, i: number, fallback?: unknown) => {
			const parameters = parametersFor(i);
			return name in parameters ? parameters[name] : fallback;
		},
		getCredentials: async (name: string) => {
			const credential = options.credentials[name];
			if (!credential) throw new Error(`Node does not have credentials of type "${name}"`);
			return credential;
		},
		getNode: () => ({
			id: 'node-under-test',
			name: 'OAuth2 Token Manager',
			type: 'n8n-nodes-oauth2-token-manager.oAuth2TokenManager',
			typeVersion: 1,
			position: [0, 0],
			parameters: {},
		}),
		continueOnFail: () => options.continueOnFail ?? false,
	} as unknown as IExecuteFunctions;
}
