import type { IDataObject } from 'n8n-workflow';
import type { TokenResult } from '../../../engine/token-manager';

/**
 * The item a operation returns. Never the refresh token; the access token only where the caller asked
 * for one (Get Valid Token, Refresh Token).
 */
export function connectionOutput({ connection: c, refreshed }: TokenResult, includeAccessToken: boolean): IDataObject {
	const expiresIn = c.expiresAt ? Math.max(0, Math.floor((c.expiresAt.getTime() - Date.now()) / 1000)) : null;
	return {
		...c.metadata,
		connectionId: c.connectionId,
		provider: c.provider,
		status: c.status,
		...(includeAccessToken ? { access_token: c.accessToken } : {}),
		token_type: c.tokenType,
		expires_at: c.expiresAt ? c.expiresAt.toISOString() : null,
		expires_in: expiresIn,
		scope: c.scope,
		refreshed,
		refresh_count: c.refreshCount,
		last_refreshed_at: c.lastRefreshedAt ? c.lastRefreshedAt.toISOString() : null,
	};
}

/** The fields an AI agent's tool call answers with: status and expiry, never a token. */
const AGENT_TOOL_FIELDS = ['connectionId', 'status', 'expires_at', 'expires_in', 'refreshed'];

export function agentToolOutput(json: IDataObject): IDataObject {
	return Object.fromEntries(AGENT_TOOL_FIELDS.filter((field) => field in json).map((field) => [field, json[field]]));
}
