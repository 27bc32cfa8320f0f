'use strict';
/*
 * One OS process of the multi-process test (test/stores/multiprocess.db.test.ts): opens the store, builds a
 * TokenManager, says "ready" over IPC, and on "go" runs `calls` concurrent Get Valid Token, reporting each result.
 * With mode "die" it stops right after the token endpoint answered (before the store write) and tells the parent,
 * which then kills it with SIGKILL. The engine is TypeScript: tools/ts-require.js transpiles it on load.
 */
const path = require('node:path');

require('../../tools/ts-require');

const root = path.join(__dirname, '..', '..');
const { TokenManager } = require(path.join(root, 'engine', 'token-manager.ts'));
const { TokenCipher } = require(path.join(root, 'engine', 'crypto.ts'));
const { resolveOAuthClient } = require(path.join(root, 'engine', 'presets.ts'));
const stores = require(path.join(root, 'engine', 'stores', 'index.ts'));
const { afterRefreshAnswer } = require(path.join(root, 'test', 'helpers', 'token-endpoint.ts'));

const config = JSON.parse(process.argv[2]);
const storeClasses = {
	postgres: stores.PostgresTokenStore,
	mysql: stores.MySqlTokenStore,
	sqlite: stores.SqliteTokenStore,
};

async function main() {
	const store = new storeClasses[config.store.kind](config.store.options);
	const client = resolveOAuthClient({ preset: 'pipedrive', ...config.client });
	const endpoint = { maxRetries: 0, timeoutMs: 10_000 };
	const dieAfterTokenResponse = async () => {
		process.send({ type: 'token-received', pid: process.pid });
		await new Promise(() => undefined); // the parent kills this process now
	};
	const manager = new TokenManager({
		store,
		cipher: new TokenCipher(config.encryptionKey),
		client,
		endpoint,
		tokenEndpoint:
			config.mode === 'die'
				? afterRefreshAnswer(client, dieAfterTokenResponse, endpoint)
				: undefined,
		leaseTtlMs: config.leaseTtlMs,
		refreshDeadlineMs: config.refreshDeadlineMs,
		leaseWaitMs: config.leaseWaitMs,
		pollIntervalMs: 50,
	});
	await store.get(config.connectionId); // connect and check the table before the start signal
	process.send({ type: 'ready', pid: process.pid });
	await new Promise((resolve) =>
		process.once('message', (message) => message && message.type === 'go' && resolve()),
	);
	const started = Date.now();
	const results = await Promise.all(
		Array.from({ length: config.calls }, () =>
			manager
				.getValidToken(config.connectionId, { minValiditySeconds: config.minValiditySeconds ?? 60 })
				.then(
					(result) => ({
						ok: true,
						accessToken: result.connection.accessToken,
						refreshed: result.refreshed,
						recovered: result.recovered,
					}),
					(error) => ({
						ok: false,
						error: `${error && error.name}: ${error && error.message}`,
						code: error && error.code,
					}),
				),
		),
	);
	process.send({ type: 'done', pid: process.pid, elapsedMs: Date.now() - started, results });
	await store.close();
	process.disconnect();
}

main().catch((error) => {
	process.stderr.write(`worker ${process.pid} failed: ${(error && error.stack) || error}\n`);
	process.exit(1);
});
