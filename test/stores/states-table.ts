import { StoreError } from '../../engine/errors';
import type { TokenStore } from '../../engine/store';
import { newConnection, stateOrder } from './contract';

export interface StatesTableSetup {
	/** Creates the tokens table (as the version before the states table did) under `name`. */
	createTokensTable(name: string): Promise<void>;
	/** A store on the table `name`; the suite closes it. */
	open(name: string, createTableIfMissing: boolean): TokenStore;
	/** Runs statements on the database as its owner would. */
	runSql(sql: string): Promise<void>;
	/** The names of the tables the database holds. */
	tables(): Promise<string[]>;
}

/**
 * A tokens table created before the states table existed: tokens keep being served; "Create Table If Missing"
 * creates the states table (with several stores at once), and without it the first state recorded is a StoreError
 * whose statements, run as given, make it work.
 */
export async function checkStatesTableUpgrade(
	setup: StatesTableSetup,
	quote: (name: string) => string,
): Promise<void> {
	const until = new Date(Date.now() + 3_600_000);
	for (const name of ['pre_states_hand', 'pre_states_option']) {
		await setup.createTokensTable(name);
		await setup.open(name, false).insert(newConnection('old:1'));
	}

	const off = setup.open('pre_states_hand', false);
	await expect(off.verifySchema()).resolves.toBeUndefined();
	expect((await off.get('old:1'))!.accessToken).toBe('ct:access:old:1');
	const failure = await off
		.consumeState('old:1', stateOrder(1, 'n'), until)
		.catch((error) => error);
	expect(failure).toBeInstanceOf(StoreError);
	expect(failure.message).toBe(
		'The table pre_states_hand_states, where the node records which authorization states were used, does not exist',
	);
	const statements = /run: (.*)$/.exec(failure.description)?.[1] ?? '';
	expect(
		statements.startsWith(`create table if not exists ${quote('pre_states_hand_states')} (`),
	).toBe(true);
	expect(statements).toContain(`consumed_state`);
	expect(await setup.tables()).not.toContain('pre_states_hand_states');
	// Revoke's clean-up fails the same way (the engine ignores it), and tokens are still served.
	await expect(off.deleteStates('old:1')).rejects.toThrow(
		/pre_states_hand_states, where the node records/,
	);
	expect((await off.get('old:1'))!.version).toBe(1);
	await setup.runSql(statements);
	expect(await off.consumeState('old:1', stateOrder(1, 'n'), until)).toBe(true);
	expect(await off.consumeState('old:1', stateOrder(1, 'n'), until)).toBe(false);

	const creators = [0, 1, 2].map(() => setup.open('pre_states_option', true));
	const accepted = await Promise.all(
		creators.map((store) => store.consumeState('old:1', stateOrder(2, 'n'), until)),
	);
	expect(accepted.filter(Boolean)).toHaveLength(1);
	expect(await setup.tables()).toContain('pre_states_option_states');
	expect((await creators[0].get('old:1'))!.accessToken).toBe('ct:access:old:1');
}
