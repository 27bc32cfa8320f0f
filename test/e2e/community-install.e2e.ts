/*
 * The path users take: Settings → Community Nodes → Install in their own n8n. The packed package is published to a
 * local registry (verdaccio; every other package passes through to the registry npm uses here) and n8n's own
 * installer fetches it over the REST routes the editor calls, as the owner: install, update to a newer release,
 * restart, uninstall. How n8n's npm is pointed at that registry without a licence: tools/n8n/registry.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { N8nClient } from '../../tools/n8n/client';
import { dropDatabase, type N8nInstance, startN8n } from '../../tools/n8n/instance';
import { packProject, repackAs } from '../../tools/n8n/package';
import { ownerClient } from '../../tools/n8n/provision';
import { type LocalRegistry, startLocalRegistry } from '../../tools/n8n/registry';
import { PACKAGE_NODE } from '../../tools/n8n/stack';

const CREDENTIAL_TYPES = [
	'oAuth2TokenManagerAppApi',
	'oAuth2TokenManagerEmbeddedApi',
	'oAuth2TokenManagerMySqlApi',
	'oAuth2TokenManagerPostgresApi',
	'oAuth2TokenManagerSupabaseApi',
];

/** What GET /rest/community-packages lists (the fields checked here). */
interface InstalledPackage {
	packageName: string;
	installedVersion: string;
	updateAvailable?: string;
	failedLoading?: boolean;
	installedNodes: { name: string; type: string }[];
}

let baseFolder: string;
let userFolder: string;
let registry: LocalRegistry | undefined;
let n8n: N8nInstance | undefined;
let client: N8nClient;
let database: string | undefined;
let name: string;
let firstVersion: string;
let nextVersion: string;
let nextTarball: string;
let packDir: string | undefined;

function log(line: string) {
	if (process.env.E2E_VERBOSE) process.stderr.write(`${line}\n`);
}

function nextPatch(version: string) {
	const [major, minor, patch] = version.split(/[.-]/).map(Number);
	return `${major}.${minor}.${patch + 1}`;
}

/** n8n on the same folder, database and key as before, its npm reaching the local registry. */
async function startN8nOnRegistry() {
	n8n = await startN8n({
		userFolder,
		log,
		env: registry!.npmEnv,
		...(database ? { database, encryptionKey: n8n!.encryptionKey } : { keepDatabase: true }),
	});
	database = n8n.database;
}

function installedOnDisk(): string | null {
	const file = path.join(userFolder, '.n8n', 'nodes', 'node_modules', name, 'package.json');
	return fs.existsSync(file)
		? (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version
		: null;
}

async function listed(): Promise<InstalledPackage[]> {
	return client.rest<InstalledPackage[]>('GET', '/community-packages');
}

beforeAll(
	async () => {
		baseFolder = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2tm-install-'));
		userFolder = path.join(baseFolder, 'n8n');
		const packed = await packProject();
		packDir = path.dirname(packed.tarball);
		({ name, version: firstVersion } = packed);
		nextVersion = nextPatch(firstVersion);
		nextTarball = await repackAs(packed.tarball, nextVersion);
		registry = await startLocalRegistry({
			dir: path.join(baseFolder, 'registry'),
			packages: [name],
		});
		await registry.publish(packed.tarball);
		await startN8nOnRegistry();
		client = await ownerClient(n8n!.url);
	},
	10 * 60 * 1000,
);

afterAll(
	async () => {
		await n8n?.stop();
		if (database) await dropDatabase(database).catch(() => {});
		await registry?.stop();
		if (packDir) fs.rmSync(packDir, { recursive: true, force: true });
		if (baseFolder && !process.env.E2E_KEEP)
			fs.rmSync(baseFolder, { recursive: true, force: true });
	},
	2 * 60 * 1000,
);

test(
	'Install (POST /rest/community-packages, as the editor sends it) fetches the package from the registry; the node and its 5 credential types appear',
	async () => {
		expect(await client.types('nodes')).not.toContain(PACKAGE_NODE);
		const installed = await client.rest<InstalledPackage>('POST', '/community-packages', { name });
		expect(installed).toMatchObject({ packageName: name, installedVersion: firstVersion });
		expect(installed.installedNodes.map((n) => n.type)).toEqual([PACKAGE_NODE]);
		expect(installedOnDisk()).toBe(firstVersion);
		expect(registry!.tunnels().opened).toBeGreaterThan(0); // n8n's npm went through the local registry
		expect(registry!.tunnels().refused).toEqual([]);

		expect(await client.types('nodes')).toContain(PACKAGE_NODE);
		expect(await client.types('credentials')).toEqual(expect.arrayContaining(CREDENTIAL_TYPES));
		// the installed package runs its credential types: one can be created
		const credential = await client.createCredential({
			name: 'Installed package store',
			type: 'oAuth2TokenManagerEmbeddedApi',
			data: {
				filePath: path.join(userFolder, 'tokens.sqlite'),
				encryptionKey: Buffer.alloc(32, 7).toString('base64'),
			},
		});
		expect(credential).toMatchObject({ type: 'oAuth2TokenManagerEmbeddedApi' });
	},
	5 * 60 * 1000,
);

test(
	'a newer release on the registry is offered as an update; Update (PATCH) installs it',
	async () => {
		await registry!.publish(nextTarball);
		const [offered] = await listed();
		expect(offered).toMatchObject({
			packageName: name,
			installedVersion: firstVersion,
			updateAvailable: nextVersion,
		});

		const updated = await client.rest<InstalledPackage>('PATCH', '/community-packages', { name });
		expect(updated).toMatchObject({ packageName: name, installedVersion: nextVersion });
		expect(installedOnDisk()).toBe(nextVersion);
		expect(await client.types('nodes')).toContain(PACKAGE_NODE);
	},
	5 * 60 * 1000,
);

test(
	'after a restart n8n loads the updated package again: its version is reported and its types are there',
	async () => {
		const owner = client.owner!;
		await n8n!.stop({ keepDatabase: true });
		await startN8nOnRegistry();
		client = new N8nClient(n8n!.url);
		await client.login(owner);

		const [reloaded] = await listed();
		expect(reloaded).toMatchObject({ packageName: name, installedVersion: nextVersion });
		expect(reloaded.failedLoading).toBeFalsy();
		expect(reloaded.updateAvailable).toBeUndefined();
		expect(await client.types('nodes')).toContain(PACKAGE_NODE);
		expect(await client.types('credentials')).toEqual(expect.arrayContaining(CREDENTIAL_TYPES));
	},
	5 * 60 * 1000,
);

test(
	'Uninstall (DELETE ?name=) removes the package: node and credential types are gone',
	async () => {
		await client.rest('DELETE', `/community-packages?${new URLSearchParams({ name })}`);
		expect(await listed()).toEqual([]);
		expect(installedOnDisk()).toBeNull();
		expect(await client.types('nodes')).not.toContain(PACKAGE_NODE);
		const credentialTypes = await client.types('credentials');
		for (const type of CREDENTIAL_TYPES) expect(credentialTypes).not.toContain(type);
	},
	5 * 60 * 1000,
);
