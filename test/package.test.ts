import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// npm test builds before Jest runs, so dist/ is what `npm pack` would publish.
const root = join(__dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

describe('the published package', () => {
	it('lists every node and credential n8n must load, each built in dist/', () => {
		const files: string[] = [...pkg.n8n.nodes, ...pkg.n8n.credentials];
		expect(pkg.n8n.nodes).toEqual(['dist/nodes/OAuth2TokenManager/OAuth2TokenManager.node.js']);
		expect(pkg.n8n.credentials).toHaveLength(5);
		expect(files.filter((file) => !existsSync(join(root, file)))).toEqual([]);
		for (const asset of [
			'dist/nodes/OAuth2TokenManager/oauth2TokenManager.svg',
			'dist/nodes/OAuth2TokenManager/OAuth2TokenManager.node.json',
			'dist/sql/postgres.sql',
			'dist/sql/mysql.sql',
			'dist/sql/sqlite.sql',
			'dist/sql/supabase.sql',
			'dist/engine/presets/providers.json',
		]) {
			expect(existsSync(join(root, asset))).toBe(true);
		}
	});

	it('each listed credential exports the type the node asks for', () => {
		const { OAuth2TokenManager } = require(join(root, pkg.n8n.nodes[0]));
		const wanted = new OAuth2TokenManager().description.credentials
			.map((c: { name: string }) => c.name)
			.sort();
		const provided = pkg.n8n.credentials
			.map((file: string) =>
				Object.values(require(join(root, file))).map(
					(Cls) => new (Cls as new () => { name: string })().name,
				),
			)
			.flat()
			.sort();
		expect(provided).toEqual(wanted);
	});

	it("follows n8n's community package rules", () => {
		expect(pkg.name).toMatch(/^n8n-nodes-/);
		expect(pkg.keywords).toContain('n8n-community-node-package');
		expect(pkg.files).toEqual(['dist']);
		expect(pkg.peerDependencies).toEqual({ 'n8n-workflow': '*' });
		expect(
			Object.keys(pkg.scripts).filter((s) => /^(pre|post)?install$|^prepare$/.test(s)),
		).toEqual([]);
		expect(Object.keys(pkg.dependencies).sort()).toEqual([
			'@supabase/supabase-js',
			'axios',
			'mysql2',
			'pg',
		]);
	});
});
