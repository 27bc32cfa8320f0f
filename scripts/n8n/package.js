'use strict';
// Packs this repository as npm would publish it and installs the tarball into an n8n user folder the way n8n's
// Community Nodes installs a package: unpacked into <userFolder>/.n8n/nodes/node_modules/<name>, dev and peer
// dependencies dropped, runtime dependencies installed beside it (no scripts), and the package recorded in
// .n8n/nodes/package.json. n8n then loads it as a community package: node types `<package name>.<node name>`.
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { promisify } = require('node:util');

const run = promisify(execFile);
const repoDir = path.resolve(__dirname, '..', '..');

async function npm(args, cwd) {
	return run('npm', args, { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, npm_config_ignore_scripts: 'true' } });
}

/** `npm pack` of the built repo into a temporary folder; returns the tarball's path. */
async function packProject({ dir = repoDir } = {}) {
	if (!fs.existsSync(path.join(dir, 'dist'))) throw new Error('dist/ is missing: run `npm run build` first');
	const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2tm-pack-'));
	const { stdout } = await npm(['pack', '--json', '--pack-destination', dest], dir);
	const [info] = JSON.parse(stdout);
	return { tarball: path.join(dest, info.filename), name: info.name, version: info.version, files: info.files.length };
}

/** Installs a packed tarball as a community package into <userFolder>/.n8n/nodes. */
async function installPackage(userFolder, tarball) {
	const nodesDir = path.join(userFolder, '.n8n', 'nodes');
	const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2tm-unpack-'));
	await run('tar', ['-xzf', tarball, '-C', staging, '--strip-components=1']);
	const pkgFile = path.join(staging, 'package.json');
	const { devDependencies, peerDependencies, optionalDependencies, scripts, ...pkg } = JSON.parse(fs.readFileSync(pkgFile, 'utf8'));
	void devDependencies;
	void peerDependencies;
	void optionalDependencies;
	void scripts;
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
	const nodesPkg = fs.existsSync(nodesPkgFile)
		? JSON.parse(fs.readFileSync(nodesPkgFile, 'utf8'))
		: { name: 'installed-nodes', private: true, dependencies: {} };
	nodesPkg.dependencies = { ...(nodesPkg.dependencies || {}), [pkg.name]: pkg.version };
	fs.writeFileSync(nodesPkgFile, `${JSON.stringify(nodesPkg, null, 2)}\n`);
	return { name: pkg.name, version: pkg.version, dir: target };
}

module.exports = { packProject, installPackage, repoDir };
