/*
 * Marketplace installs arrive without state, so nothing this n8n issued names their connection: the id is derived
 * from the provider's answer (Pipedrive: "pipedrive:<company subdomain>" from api_domain). Such a callback can be sent
 * by anyone with a code of their own, so a derived id may only ever write the connection of that same company
 * through that same app: never a connection someone named, authorized for another company or through another app.
 */
import { ConnectionClaimedError, InvalidInputError, TokenEndpointError } from '../errors';
import type { IssuedTokens } from '../oauth';
import { derivedConnectionId, sameApp, type OAuthClient } from '../presets';
import type { StoredConnection } from '../types';

type DerivingClient = Pick<OAuthClient, 'connectionIdFrom' | 'name'>;

/** A connection id comes from the provider's answer only where nothing else can name it: no state, and the caller allows that. */
export function requireDerivableConnectionId(
	client: DerivingClient,
	state: string,
	allowMissingState: boolean,
): void {
	if (!client.connectionIdFrom) {
		throw new InvalidInputError(
			'connectionId',
			`is empty, and the ${client.name} preset derives none from the provider's answer: set one per authorized account`,
		);
	}
	if (state) {
		throw new InvalidInputError(
			'connectionId',
			'is empty although the callback has a state: take the connection id from the state',
		);
	}
	if (!allowMissingState) {
		throw new InvalidInputError(
			'connectionId',
			`is empty: it is derived from the provider's answer only for callbacks without state (${client.name} marketplace installs), with a missing state allowed`,
		);
	}
}

/** The id the answer names (the code is spent by then: without one, the tokens are not kept, as nothing names them). */
export function connectionIdFromAnswer(client: DerivingClient, response: IssuedTokens): string {
	const derived = derivedConnectionId(client, response.extra);
	if (derived === null) {
		throw new TokenEndpointError(
			`The token response has no usable ${client.connectionIdFrom?.responseField ?? 'field'} to derive the connection id from; the tokens were not stored`,
			{},
			'Give the connection an id of your own for this callback, and have the account owner install the app again.',
		);
	}
	return derived;
}

/**
 * A derived id replaces an existing row only when that row is the same company's (its kept answer field derives the
 * same id) through the same app; a row named by hand for another company, or one without the field, is not its to take.
 */
export function requireOwnDerivedConnection(
	client: DerivingClient,
	appFingerprint: string,
	existing: StoredConnection | null,
): void {
	if (!existing) return;
	const sameCompany = derivedConnectionId(client, existing.metadata) === existing.connectionId;
	const throughThisApp =
		!existing.appFingerprint || sameApp(existing.appFingerprint, appFingerprint);
	if (!sameCompany || !throughThisApp)
		throw new ConnectionClaimedError(
			existing.connectionId,
			client.name,
			client.connectionIdFrom?.prefix ?? '',
		);
}
