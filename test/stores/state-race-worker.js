'use strict';
/*
 * One OS process of the used-state race (test/stores/state-race.db.test.ts): opens the store, says "ready" over IPC,
 * and on "go" records the same states as every other process, `calls` at once, reporting which were accepted.
 * The engine is TypeScript: tools/ts-require.js transpiles it on load.
 */
const path = require('node:path');

require('../../tools/ts-require');

const stores = require(path.join(__dirname, '..', '..', 'engine', 'stores', 'index.ts'));

const config = JSON.parse(process.argv[2]);
const storeClasses = {
	postgres: stores.PostgresTokenStore,
	mysql: stores.MySqlTokenStore,
	sqlite: stores.SqliteTokenStore,
};

async function main() {
	const store = new storeClasses[config.kind](config.options);
	await store.deleteStates('warm-up'); // connect and check the tables before the start signal
	process.send({ type: 'ready' });
	await new Promise((resolve) =>
		process.once('message', (message) => message && message.type === 'go' && resolve()),
	);
	const until = new Date(Date.now() + 3_600_000);
	const results = await Promise.all(
		config.attempts.map(({ connectionId, stateOrder }) =>
			store.consumeState(connectionId, stateOrder, until).then(
				(accepted) => ({ connectionId, stateOrder, accepted }),
				(error) => ({
					connectionId,
					stateOrder,
					error: `${error && error.name}: ${error && error.message}`,
				}),
			),
		),
	);
	process.send({ type: 'done', results });
	await store.close();
	process.disconnect();
}

main().catch((error) => {
	process.stderr.write(`worker ${process.pid} failed: ${(error && error.stack) || error}\n`);
	process.exit(1);
});
