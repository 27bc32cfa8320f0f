/**
 * Which database suites run. Under CI=true every suite runs, and one whose server is unreachable fails: it never
 * skips. Elsewhere a suite whose server does not answer is skipped with a warning that names the server, so a
 * laptop without MariaDB can still run the rest.
 */
import { spawnSync } from 'node:child_process';
import { TEST_MYSQL_URL, TEST_POSTGRES_URL } from '../../tools/temporary-database';

export const IN_CI = /^(1|true|yes)$/i.test(process.env.CI ?? '');

/** Whether something accepts TCP connections at the URL's host and port (checked synchronously, at collection time). */
export function tcpReachable(url: string, defaultPort: number): boolean {
	const { hostname, port } = new URL(url);
	const probe = spawnSync(
		process.execPath,
		[
			'-e',
			`const s=require('net').connect(${Number(port) || defaultPort},${JSON.stringify(hostname)});` +
				`s.setTimeout(2000,()=>process.exit(1));s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(1));`,
		],
		{ timeout: 5000 },
	);
	return probe.status === 0;
}

function describeFor(label: string, url: string, defaultPort: number): jest.Describe {
	if (IN_CI || tcpReachable(url, defaultPort)) return describe;
	const where = new URL(url);
	// eslint-disable-next-line no-console
	console.warn(
		`SKIPPED: ${label} suites: nothing answers at ${where.hostname}:${where.port || defaultPort} (CI=true would fail instead)`,
	);
	return describe.skip;
}

export const describePostgres = (): jest.Describe =>
	describeFor('PostgreSQL', TEST_POSTGRES_URL, 5432);
export const describeMySql = (): jest.Describe => describeFor('MySQL', TEST_MYSQL_URL, 3306);
