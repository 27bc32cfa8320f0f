import { randomBytes } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the server answers one token request: how long before the headers, and how long the body then takes. */
export interface Pace {
	delayMs?: number;
	trickleMs?: number;
}

export interface TokenServerOptions {
	/** expires_in of every token response, in seconds. */
	expiresIn?: number;
	/** Called for each refresh request (1, 2, …) to pace its answer. */
	pace?: (refreshNumber: number) => Pace;
}

export interface ReceivedRequest {
	grantType: string;
	refreshToken?: string;
	/** When the server received the request and when its answer was delivered or cut off (its own clock, ms). */
	receivedAt: number;
	closedAt?: number;
}

/**
 * A token endpoint on 127.0.0.1 (node:http) that rotates refresh tokens with reuse detection, as certified
 * servers do: a refresh token presented after it was retired, or while another request with it is still being
 * answered, revokes the whole grant (invalid_grant from then on). A refresh token is retired once the answer
 * that replaced it has been delivered in full; an answer the client cut off changes nothing. Answers can be
 * paced: headers late, or headers at once and then a body that trickles in small pieces.
 */
export async function startTokenServer(options: TokenServerOptions = {}) {
	const requests: ReceivedRequest[] = [];
	const live = new Set<string>();
	const retired = new Set<string>();
	const answering = new Set<string>();
	const stats = {
		refreshRequests: 0,
		completedRefreshes: 0,
		cutOff: 0,
		overlapping: 0,
		reuses: 0,
		grantsRevoked: 0,
	};
	let revoked = false;
	let issued = 0;

	const issue = () => {
		issued += 1;
		const suffix = randomBytes(6).toString('hex');
		return {
			access_token: `SENTINEL-access-srv-${issued}-${suffix}`,
			token_type: 'Bearer',
			refresh_token: `SENTINEL-refresh-srv-${issued}-${suffix}`,
			expires_in: options.expiresIn ?? 3600,
		};
	};
	const reply = (
		res: ServerResponse,
		status: number,
		body: object,
		pace: Pace,
		done: (delivered: boolean) => void,
	) => {
		const text = JSON.stringify(body);
		let finished = false;
		res.once('finish', () => ((finished = true), done(true)));
		res.once('close', () => finished || done(false));
		setTimeout(() => {
			if (res.destroyed) return;
			res.writeHead(status, {
				'content-type': 'application/json',
				'content-length': Buffer.byteLength(text),
			});
			const pieces = pace.trickleMs ? Math.max(1, Math.floor(pace.trickleMs / 100)) : 1;
			const size = Math.ceil(text.length / pieces);
			let sent = 0;
			const next = () => {
				if (res.destroyed) return;
				const piece = text.slice(sent, sent + size);
				sent += piece.length;
				if (sent >= text.length) res.end(piece);
				else res.write(piece, () => setTimeout(next, pace.trickleMs! / pieces));
			};
			next();
		}, pace.delayMs ?? 0);
	};

	const handle = (res: ServerResponse, raw: string) => {
		const form = new URLSearchParams(raw);
		const grantType = form.get('grant_type') ?? '';
		const refreshToken = form.get('refresh_token') ?? undefined;
		const request: ReceivedRequest = { grantType, refreshToken, receivedAt: Date.now() };
		requests.push(request);
		res.once('close', () => (request.closedAt = Date.now()));
		if (grantType === 'authorization_code') {
			revoked = false;
			const tokens = issue();
			live.add(tokens.refresh_token);
			reply(res, 200, tokens, {}, () => undefined);
			return;
		}
		stats.refreshRequests += 1;
		if (answering.size > 0) stats.overlapping += 1;
		const invalid = (description: string) =>
			reply(
				res,
				400,
				{ error: 'invalid_grant', error_description: description },
				{},
				() => undefined,
			);
		if (!refreshToken || revoked) return invalid('The grant is revoked');
		if (retired.has(refreshToken) || answering.has(refreshToken)) {
			stats.reuses += 1;
			stats.grantsRevoked += 1;
			revoked = true;
			return invalid('Refresh token reused: the grant is revoked');
		}
		if (!live.has(refreshToken)) return invalid('Unknown refresh token');
		answering.add(refreshToken);
		const tokens = issue();
		reply(res, 200, tokens, options.pace?.(stats.refreshRequests) ?? {}, (delivered) => {
			answering.delete(refreshToken);
			if (!delivered) {
				stats.cutOff += 1;
				return;
			}
			stats.completedRefreshes += 1;
			live.delete(refreshToken);
			retired.add(refreshToken);
			if (!revoked) live.add(tokens.refresh_token);
		});
	};

	const server = createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on('data', (c: Buffer) => chunks.push(c));
		req.on('end', () => handle(res, Buffer.concat(chunks).toString('utf8')));
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	return {
		tokenUrl: `http://127.0.0.1:${port}/oauth/token`,
		requests,
		stats: () => ({ ...stats }),
		/** Whether the provider would accept this refresh token now. */
		accepts: (refreshToken: string | null) =>
			!revoked && refreshToken !== null && live.has(refreshToken),
		close: () =>
			new Promise<void>((resolve) => {
				server.closeAllConnections();
				server.close(() => resolve());
			}),
	};
}

export type TokenServer = Awaited<ReturnType<typeof startTokenServer>>;
