import type {
	ICredentialsDecrypted,
	ICredentialTestFunctions,
	INodeCredentialTestResult,
} from 'n8n-workflow';
import {
	AuthorizationServerClient,
	TokenCipher,
	TokenEndpointError,
	TokenManagerError,
} from '../../../engine';
import { describeEngineError } from '../actions/nodeErrors';
import {
	oauthClientFromCredentials,
	storeFromCredentials,
	type Storage,
} from '../transport/credentials';

/*
 * n8n's editor shows the message of a failed test and its own "Connection tested successfully" for a passed one:
 * the success messages below reach users only through n8n's API.
 */
const ok = (message: string): INodeCredentialTestResult => ({ status: 'OK', message });

function failed(error: unknown): INodeCredentialTestResult {
	if (!(error instanceof TokenManagerError)) {
		return {
			status: 'Error',
			message: `Unexpected error: ${error instanceof Error ? error.message.slice(0, 200) : 'unknown'}`,
		};
	}
	const { message, description } = describeEngineError(error);
	return { status: 'Error', message: [message, description].filter(Boolean).join('. ') };
}

/**
 * Checks the client credentials without an authorized account: a refresh with a made-up token is
 * refused as invalid_grant by a provider that accepted the client, and as invalid_client otherwise.
 */
export async function testOAuthApp(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	try {
		const client = oauthClientFromCredentials(credential.data ?? {});
		if (!client.tokenUrl)
			return {
				status: 'Error',
				message: "The Token URL is empty: enter the provider's token endpoint",
			};
		if (!client.clientId || !client.clientSecret)
			return { status: 'Error', message: 'Enter the Client ID and the Client Secret' };
		await new AuthorizationServerClient(client, { maxRetries: 0 }).requestToken({
			grant_type: 'refresh_token',
			refresh_token: 'n8n-credential-test-not-a-real-token',
		});
		return ok('The token endpoint accepted the client');
	} catch (error) {
		if (error instanceof TokenEndpointError && error.error === 'invalid_grant') {
			return ok(
				'The provider accepted the client credentials (it refused only the test refresh token, as expected)',
			);
		}
		return failed(error);
	}
}

/** Connects with the storage credential and checks the table (creating it where the credential allows). */
export function storeCredentialTest(storage: Storage) {
	return async function (
		this: ICredentialTestFunctions,
		credential: ICredentialsDecrypted,
	): Promise<INodeCredentialTestResult> {
		const data = credential.data ?? {};
		let store;
		try {
			new TokenCipher(String(data.encryptionKey ?? ''));
			store = storeFromCredentials(storage, data);
			await store.get('n8n-credential-test');
			await store.verifySchema();
			return ok(`Connected; ${store.description} is ready`);
		} catch (error) {
			return failed(error);
		} finally {
			await store?.close().catch(() => undefined);
		}
	};
}
