/*
 * The engine's public surface: what the n8n node (and any other caller) uses. The engine has no n8n import; everything
 * below is plain TypeScript over a TokenStore.
 */
export {
	apiBaseUrl,
	apiError,
	authorizationHeader,
	isUnderBase,
	MAX_PROVIDER_MESSAGE_LENGTH,
	providerMessage,
	redactSecrets,
	redactValue,
	resolveApiUrl,
	tokenRefused,
} from './api-request';
export { DEFAULT_STATE_TTL_SECONDS, connectionIdFromState } from './authorization';
export { validateConnectionId } from './connection-id';
export {
	connectionPage,
	getConnection,
	listConnections,
	type ConnectionSummary,
} from './connections';
export { TokenCipher } from './crypto';
export * from './errors';
export { DEFAULT_KEEP_ALIVE_CONCURRENCY, MAX_KEEP_ALIVE_CONCURRENCY } from './keep-alive/sweep';
export { mapWithConcurrency } from './concurrency';
export { MANY_ITEMS_CONCURRENCY, type Settled, type ValidTokenRequest } from './many-tokens';
export { AuthorizationServerClient } from './oauth';
export {
	parseExtraParameters,
	PROVIDER_PRESETS,
	resolveOAuthClient,
	type ApiTokenInvalidRule,
	type ClientAuthentication,
	type OAuthClient,
	type PlaceholderField,
	type ProviderPreset,
} from './presets';
export type { TokenStore } from './store';
export { MySqlTokenStore, PostgresTokenStore, SqliteTokenStore } from './stores';
export { SupabaseTokenStore } from './stores/supabase';
export {
	DEFAULT_MIN_VALIDITY_SECONDS,
	TokenManager,
	type TokenManagerOptions,
} from './token-manager';
export {
	REPORTED_STATUSES,
	reportedStatus,
	type AuthorizationStart,
	type ClientCredentialsParams,
	type ExchangeParams,
	type KeepAliveOptions,
	type KeepAliveOutcome,
	type ReportedStatus,
	type RevokeResult,
	type TokenResult,
	type ValidTokenResult,
} from './types';
