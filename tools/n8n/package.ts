// Packs this repository as npm would publish it and installs the tarball into an n8n user folder the way n8n's
// Community Nodes installs a package: unpacked into <userFolder>/.n8n/nodes/node_modules/<name>, dev and peer
// dependencies dropped, runtime dependencies installed beside it (no scripts), and the package recorded in
// .n8n/nodes/package.json. n8n then loads it as a community package: node types `<package name>.<node name>`.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const repoDir = path.resolve(__dirname, '..', '..');

interface PackageJson {
	name: string;
	version: string;
	dependencies?: Record<string, string>;
	[field: string]: unknown;
}

async function npm(args: string[], cwd: string) {
	return run('npm', args, {
		cwd,
		maxBuffer: 64 * 1024 * 1024,
		env: { ...process.env, npm_config_ignore_scripts: 'true' },
	});
}

/** `npm pack` of the built repo into a temporary folder. */
export async function packProject({ dir = repoDir }: { dir?: string } = {}) {
	if (!fs.existsSync(path.join(dir, 'dist')))
		throw new Error('dist/ is missing: run `npm run build` first');
	const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2tm-pack-'));
	const { stdout } = await npm(['pack', '--json', '--pack-destination', dest], dir);
	const [info] = JSON.parse(stdout) as {
		filename: string;
		name: string;
		version: string;
		files: unknown[];
	}[];
	return {
		tarball: path.join(dest, info.filename),
		name: info.name,
		version: info.version,
		files: info.files.length,
	};
}

/** The same packed package under another version number, packed beside the original (a newer release to update to). */
export async function repackAs(tarball: string, version: string) {
	const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2tm-repack-'));
	try {
		await run('tar', ['-xzf', tarball, '-C', staging, '--strip-components=1']);
		const pkgFile = path.join(staging, 'package.json');
		const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as PackageJson;
		fs.writeFileSync(pkgFile, `${JSON.stringify({ ...pkg, version }, null, 2)}\n`);
		const { stdout } = await npm(
			['pack', '--json', '--pack-destination', path.dirname(tarball)],
			staging,
		);
		const [info] = JSON.parse(stdout) as { filename: string }[];
		return path.join(path.dirname(tarball), info.filename);
	} finally {
		fs.rmSync(staging, { recursive: true, force: true });
	}
}

/** Installs a packed tarball as a community package into <userFolder>/.n8n/nodes. */
export async function installPackage(userFolder: string, tarball: string) {
	const nodesDir = path.join(userFolder, '.n8n', 'nodes');
	const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2tm-unpack-'));
	await run('tar', ['-xzf', tarball, '-C', staging, '--strip-components=1']);
	const pkgFile = path.join(staging, 'package.json');
	const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as PackageJson;
	for (const field of ['devDependencies', 'peerDependencies', 'optionalDependencies', 'scripts'])
		delete pkg[field];
	fs.writeFileSync(pkgFile, `${JSON.stringify(pkg, null, 2)}\n`);
	const target = path.join(nodesDir, 'node_modules', pkg.name);
	fs.rmSync(target, { recursive: true, force: true });
	fs.mkdirSync(path.dirname(target), { recursive: true });
	fs.cpSync(staging, target, { recursive: true });
	fs.rmSync(staging, { recursive: true, force: true });
	await npm(
		[
			'install',
			'--omit=dev',
			'--audit=false',
			'--fund=false',
			'--bin-links=false',
			'--install-strategy=shallow',
			'--ignore-scripts=true',
			'--package-lock=false',
			'--loglevel=error',
		],
		target,
	);
	const nodesPkgFile = path.join(nodesDir, 'package.json');
	const nodesPkg: Partial<PackageJson> = fs.existsSync(nodesPkgFile)
		? (JSON.parse(fs.readFileSync(nodesPkgFile, 'utf8')) as PackageJson)
		: { name: 'installed-nodes', private: true, dependencies: {} };
	nodesPkg.dependencies = { ...(nodesPkg.dependencies || {}), [pkg.name]: pkg.version };
	fs.writeFileSync(nodesPkgFile, `${JSON.stringify(nodesPkg, null, 2)}\n`);
	return { name: pkg.name, version: pkg.version, dir: target };
}
