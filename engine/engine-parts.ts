import type { ConnectionAccess } from './access';
import type { AuthorizationLinks } from './connecting/authorization-links';
import type { AuthorizationServerClient, Grant, IssuedTokens } from './oauth';
import type { OAuthClient } from './presets';
import type { RefreshCoordinator } from './refresh/coordinator';
import type { RowSealer } from './sealing';
import type { TokenStore } from './store';

/** Sends a grant to the token endpoint; `deadline` (epoch ms) bounds every attempt and retry, response body included. */
export type TokenEndpoint = (grant: Grant, limits: { deadline?: number }) => Promise<IssuedTokens>;

/** What the engine's jobs share, wired once by TokenManager. */
export interface EngineParts {
	store: TokenStore;
	client: OAuthClient;
	/** Which app the client is (appFingerprint): written with every token obtained, checked before use. */
	fingerprint: string;
	oauth: AuthorizationServerClient;
	tokenEndpoint: TokenEndpoint;
	/** The process clock (epoch ms): the refresh policy and the times written with new tokens. */
	clock: () => number;
	/** The store's clock (epoch ms): cooldowns are written and compared in it. */
	databaseClock: () => Promise<number>;
	/** Single flight, the lease, and writes the store refused. */
	coordinator: RefreshCoordinator;
	sealer: RowSealer;
	access: ConnectionAccess;
	links: AuthorizationLinks;
	/** How long refreshes may keep failing before the connection reports `failing`. */
	failingAfterMs: number;
}
