import type { ICredentialDataDecryptedObject } from 'n8n-workflow';
import {
	DEFAULT_IDLE_TIMEOUT_SECONDS,
	tlsFromCredentials,
} from '../../../credentials/databaseServerFields';
import {
	type ClientAuthentication,
	MissingInputError,
	MySqlTokenStore,
	type OAuthClient,
	parseExtraParameters,
	PostgresTokenStore,
	resolveOAuthClient,
	SqliteTokenStore,
	SupabaseTokenStore,
	TokenCipher,
	type TokenStore,
} from '../../../engine';

/**
 * Turns the node's credentials (and its Storage parameter) into engine objects: the OAuth client, the token store
 * and the cipher. Pure: the caches in storeCache.ts and engine.ts decide what is built again.
 */

export type Storage = 'supabase' | 'postgres' | 'mysql' | 'embedded';

/** What a node of versions before 1.3 saved without a Storage value uses (Supabase was the only store at first); see versions.ts. */
export const SAVED_NODE_STORAGE: Storage = 'supabase';

export const APP_CREDENTIAL = 'oAuth2TokenManagerAppApi';

export const STORAGE_CREDENTIALS: Record<Storage, string> = {
	supabase: 'oAuth2TokenManagerSupabaseApi',
	postgres: 'oAuth2TokenManagerPostgresApi',
	mysql: 'oAuth2TokenManagerMySqlApi',
	embedded: 'oAuth2TokenManagerEmbeddedApi',
};

const text = (value: unknown) => (typeof value === 'string' ? value.trim() : '');
const list = (value: unknown, separator: RegExp) =>
	text(value)
		.split(separator)
		.map((s) => s.trim())
		.filter(Boolean);

export function oauthClientFromCredentials(
	credentials: ICredentialDataDecryptedObject,
): OAuthClient {
	return resolveOAuthClient({
		preset: text(credentials.preset) || 'pipedrive',
		clientId: text(credentials.clientId),
		clientSecret: typeof credentials.clientSecret === 'string' ? credentials.clientSecret : '',
		redirectUri: text(credentials.redirectUri),
		scopes: list(credentials.scopes, /[\s,]+/),
		authorizationUrl: text(credentials.authorizationUrl),
		tokenUrl: text(credentials.tokenUrl),
		revocationUrl: text(credentials.revocationUrl),
		clientAuthentication: (text(credentials.clientAuthentication) || undefined) as
			ClientAuthentication | undefined,
		keepResponseFields: list(credentials.keepResponseFields, /,/),
		keepCallbackFields: list(credentials.keepCallbackFields, /,/),
		placeholderValues: {
			tenant: text(credentials.tenant),
			accountsServer: text(credentials.accountsServer),
			environment: text(credentials.environment),
		},
		authorizationParameters: parseExtraParameters(
			'authorizationParameters',
			text(credentials.authorizationParameters),
		),
		tokenParameters: parseExtraParameters(
			'tokenParameters',
			text(credentials.codeExchangeParameters),
		),
		refreshParameters: parseExtraParameters(
			'refreshParameters',
			text(credentials.refreshParameters),
		),
		// Only the Custom preset shows the PKCE switch; a preset's own support applies otherwise.
		pkce:
			text(credentials.preset) === 'custom' && typeof credentials.pkce === 'boolean'
				? credentials.pkce
				: undefined,
	});
}

/** Idle Connection Timeout in ms; a credential saved before the field existed has none. */
function idleTimeoutMs(c: ICredentialDataDecryptedObject): number {
	const seconds = Number(c.idleTimeoutSeconds);
	return (seconds > 0 ? seconds : DEFAULT_IDLE_TIMEOUT_SECONDS) * 1000;
}

/** Builds a store from its credential. Pure: the caller decides about caching. */
export function storeFromCredentials(
	storage: Storage,
	c: ICredentialDataDecryptedObject,
): TokenStore {
	const ssl = tlsFromCredentials(c);
	switch (storage) {
		case 'supabase':
			return new SupabaseTokenStore({
				url: text(c.host),
				serviceRoleKey: String(c.serviceRole ?? ''),
				tableName: text(c.tableName),
				schema: text(c.schema),
			});
		case 'postgres':
			return new PostgresTokenStore({
				pool: {
					host: text(c.host),
					port: Number(c.port) || 5432,
					database: text(c.database),
					user: text(c.user),
					password: String(c.password ?? ''),
					ssl,
					idleTimeoutMillis: idleTimeoutMs(c),
				},
				tableName: text(c.tableName),
				createTableIfMissing: c.createTableIfMissing === true,
			});
		case 'mysql':
			if (!text(c.database)) throw new MissingInputError('database');
			return new MySqlTokenStore({
				host: text(c.host),
				port: Number(c.port) || 3306,
				database: text(c.database),
				user: text(c.user),
				password: String(c.password ?? ''),
				ssl: ssl ?? false,
				idleTimeoutMs: idleTimeoutMs(c),
				tableName: text(c.tableName),
				createTableIfMissing: c.createTableIfMissing === true,
			});
		case 'embedded':
			return new SqliteTokenStore({
				filePath: text(c.filePath) || undefined,
				tableName: text(c.tableName) || undefined,
			});
		default:
			throw new Error(`Unknown storage "${String(storage)}"`);
	}
}

export function cipherFromCredentials(credentials: ICredentialDataDecryptedObject): TokenCipher {
	// Keys may contain spaces (passphrases): old keys are separated by commas or line breaks only.
	return new TokenCipher(
		String(credentials.encryptionKey ?? ''),
		list(credentials.previousEncryptionKeys, /[\n,]+/),
	);
}
