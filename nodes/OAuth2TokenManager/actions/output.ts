import type { IDataObject } from 'n8n-workflow';
import type {
	ConnectionSummary,
	KeepAliveOutcome,
	TokenResult,
	ValidTokenResult,
} from '../../../engine';
import { CAMEL_CASE_OUTPUT_SINCE } from './versions';

/*
 * The fields of the items the operations return (each operation's `output` builds its items from them). The rule
 * (node version 1.1 and later): fields defined by RFC 6749 keep their names (access_token, token_type, expires_in,
 * scope), the node's own fields are camelCase (connectionId, expiresAt, refreshCount…); the item starts with the
 * connection and its token, and the provider's kept fields (e.g. Pipedrive's api_domain) come last. Version 1 keeps
 * the names and order it always had, so saved workflows that read them keep working; version 1.2 follows 1.1's rule.
 * The refresh token is never output; the access token only where the caller asked for one (Get Valid Token, Refresh
 * Token), and never to an AI agent.
 */

/** The node's own output fields, by their version 1.1 names. */
type OwnField =
	| 'expiresAt'
	| 'refreshCount'
	| 'lastRefreshedAt'
	| 'minValiditySeconds'
	| 'minValidityCapped'
	| 'revokedAtProvider'
	| 'revokedTokenType';

export interface OutputRule {
	names: { [F in OwnField]: string };
	/** Version 1 put the provider's kept fields first (and let the node's fields override them). */
	providerFieldsFirst: boolean;
	/** What an AI agent's tool call answers with: status and expiry, never a token. */
	agentToolFields: readonly string[];
}

const VERSION_1: OutputRule = {
	names: {
		expiresAt: 'expires_at',
		refreshCount: 'refresh_count',
		lastRefreshedAt: 'last_refreshed_at',
		minValiditySeconds: 'min_validity_seconds',
		minValidityCapped: 'min_validity_capped',
		revokedAtProvider: 'revoked_at_provider',
		revokedTokenType: 'revoked_token_type',
	},
	providerFieldsFirst: true,
	agentToolFields: ['connectionId', 'status', 'expires_at', 'expires_in', 'refreshed'],
};

const VERSION_1_1: OutputRule = {
	names: {
		expiresAt: 'expiresAt',
		refreshCount: 'refreshCount',
		lastRefreshedAt: 'lastRefreshedAt',
		minValiditySeconds: 'minValiditySeconds',
		minValidityCapped: 'minValidityCapped',
		revokedAtProvider: 'revokedAtProvider',
		revokedTokenType: 'revokedTokenType',
	},
	providerFieldsFirst: false,
	agentToolFields: ['connectionId', 'status', 'expiresAt', 'expires_in', 'refreshed'],
};

export function outputRuleFor(typeVersion: number): OutputRule {
	return typeVersion < CAMEL_CASE_OUTPUT_SINCE ? VERSION_1 : VERSION_1_1;
}

const isoTime = (date: Date | null) => (date ? date.toISOString() : null);
const secondsUntil = (date: Date | null) =>
	date ? Math.max(0, Math.floor((date.getTime() - Date.now()) / 1000)) : null;

/** The provider's kept fields go beside the node's own, and never replace one of them. */
function withProviderFields(
	rule: OutputRule,
	own: IDataObject,
	metadata: Record<string, string>,
): IDataObject {
	if (rule.providerFieldsFirst) return { ...metadata, ...own };
	const kept = Object.entries(metadata).filter(([name]) => !(name in own));
	return { ...own, ...Object.fromEntries(kept) };
}

export function connectionFields(
	rule: OutputRule,
	{ connection: c, refreshed }: TokenResult,
	includeAccessToken: boolean,
	extra: IDataObject = {},
): IDataObject {
	const { names } = rule;
	const own: IDataObject = {
		connectionId: c.connectionId,
		provider: c.provider,
		status: c.status,
		...(includeAccessToken ? { access_token: c.accessToken } : {}),
		token_type: c.tokenType,
		[names.expiresAt]: isoTime(c.expiresAt),
		expires_in: secondsUntil(c.expiresAt),
		scope: c.scope,
		refreshed,
		[names.refreshCount]: c.refreshCount,
		[names.lastRefreshedAt]: isoTime(c.lastRefreshedAt),
		...extra,
	};
	return withProviderFields(rule, own, c.metadata);
}

/**
 * What a refresh said about the provider's health: `recovered` on the one call whose refresh succeeded after failures,
 * and, when Get Valid Token served the stored token because the provider is failing, when it is asked again. Only
 * when true or set, so healthy items stay as they were.
 */
export function healthFields(
	result: TokenResult & Partial<Pick<ValidTokenResult, 'cooldown'>>,
): IDataObject {
	return {
		...(result.recovered ? { recovered: true } : {}),
		...(result.cooldown ? { nextAttemptAt: result.cooldown.nextAttemptAt.toISOString() } : {}),
	};
}

/**
 * One Keep Alive item. The failure goes in errorCode and errorMessage, not in an `error` field: n8n takes an item with
 * `error` for a failed item (its error output).
 */
export function keepAliveFields({ names }: OutputRule, outcome: KeepAliveOutcome): IDataObject {
	return {
		connectionId: outcome.connectionId,
		outcome: outcome.outcome,
		status: outcome.status,
		[names.expiresAt]: isoTime(outcome.expiresAt),
		expires_in: secondsUntil(outcome.expiresAt),
		nextAttemptAt: isoTime(outcome.nextAttemptAt ?? null),
		errorCode: outcome.error?.code ?? null,
		errorMessage: outcome.error?.message ?? null,
		...(outcome.recovered ? { recovered: true } : {}),
		...(outcome.reauthorizationUrl ? { reauthorizationUrl: outcome.reauthorizationUrl } : {}),
	};
}

/** A stored connection as Get Connection and List Connections show it: every field but its tokens. */
export function summaryFields(rule: OutputRule, s: ConnectionSummary): IDataObject {
	const { names } = rule;
	const own: IDataObject = {
		connectionId: s.connectionId,
		provider: s.provider,
		grantType: s.grantType,
		status: s.status,
		token_type: s.tokenType,
		[names.expiresAt]: isoTime(s.expiresAt),
		expires_in: secondsUntil(s.expiresAt),
		scope: s.scope,
		[names.refreshCount]: s.refreshCount,
		[names.lastRefreshedAt]: isoTime(s.lastRefreshedAt),
		lastError: s.lastError,
		failureCount: s.failureCount,
		firstFailureAt: isoTime(s.firstFailureAt),
		nextAttemptAt: isoTime(s.nextAttemptAt),
		failingSince: isoTime(s.failingSince),
		appFingerprint: s.appFingerprint,
		createdAt: s.createdAt.toISOString(),
		updatedAt: s.updatedAt.toISOString(),
	};
	return withProviderFields(rule, own, s.metadata);
}

export function agentToolOutput(rule: OutputRule, json: IDataObject): IDataObject {
	return Object.fromEntries(
		rule.agentToolFields.filter((field) => field in json).map((field) => [field, json[field]]),
	);
}
