/**
 * The engine's shape, as a newcomer relies on it: no n8n import, no import cycle (type-only imports included: a cycle
 * of types is a knot for the reader too), no file over MAX_LINES, and the node reaching the engine only through
 * engine/index.ts. Run alone: npx jest test/engine/structure.test.ts
 */
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const ENGINE = path.join(ROOT, 'engine');
const MAX_LINES = 350;
const IMPORT = /^\s*(?:import|export)\s+(?:[^;]*?\s+from\s+)?'([^']+)'/gm;

function sources(dir: string): string[] {
	return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
		const full = path.join(dir, entry.name);
		if (entry.isDirectory()) return sources(full);
		return entry.name.endsWith('.ts') ? [full] : [];
	});
}

function imports(file: string): string[] {
	return [...fs.readFileSync(file, 'utf8').matchAll(IMPORT)].map((m) => m[1]);
}

function resolveLocal(from: string, specifier: string): string | undefined {
	if (!specifier.startsWith('.')) return undefined;
	const target = path.resolve(path.dirname(from), specifier);
	return [`${target}.ts`, path.join(target, 'index.ts')].find((file) => fs.existsSync(file));
}

/** Every cycle of imports among `files`, each as the list of files around it. */
function importCycles(files: string[]): string[][] {
	const graph = new Map(
		files.map((file) => [
			file,
			imports(file)
				.map((s) => resolveLocal(file, s))
				.filter((f): f is string => f !== undefined),
		]),
	);
	const cycles: string[][] = [];
	const state = new Map<string, 'open' | 'done'>();
	const visit = (file: string, trail: string[]) => {
		if (state.get(file) === 'done') return;
		if (state.get(file) === 'open') {
			cycles.push(trail.slice(trail.indexOf(file)).map((f) => path.relative(ROOT, f)));
			return;
		}
		state.set(file, 'open');
		for (const next of graph.get(file) ?? []) visit(next, [...trail, next]);
		state.set(file, 'done');
	};
	for (const file of files) visit(file, [file]);
	return cycles;
}

describe('the engine in named parts', () => {
	const engineFiles = sources(ENGINE);

	it('imports nothing of n8n', () => {
		const n8n = engineFiles.filter((file) => imports(file).some((s) => /^n8n-/.test(s)));
		expect(n8n).toEqual([]);
	});

	it('has no import cycle', () => {
		expect(importCycles(engineFiles)).toEqual([]);
	});

	it(`has no file over ${MAX_LINES} lines`, () => {
		const long = engineFiles
			.map(
				(file) =>
					[path.relative(ROOT, file), fs.readFileSync(file, 'utf8').split('\n').length] as const,
			)
			.filter(([, lines]) => lines > MAX_LINES);
		expect(long).toEqual([]);
	});

	it('is reached by the node only through engine/index.ts', () => {
		const nodeFiles = sources(path.join(ROOT, 'nodes'));
		const deep = nodeFiles.flatMap((file) =>
			imports(file)
				.filter((s) => /\/engine\//.test(s))
				.map((s) => `${path.relative(ROOT, file)}: ${s}`),
		);
		expect(deep).toEqual([]);
	});

	it('finds a cycle where there is one (the check itself)', () => {
		const dir = fs.mkdtempSync(path.join(ROOT, 'engine-cycle-check-'));
		try {
			fs.writeFileSync(path.join(dir, 'a.ts'), "import { b } from './b';\nexport const a = b;\n");
			fs.writeFileSync(
				path.join(dir, 'b.ts'),
				"import type { C } from './c';\nexport const b: C = 1;\n",
			);
			fs.writeFileSync(
				path.join(dir, 'c.ts'),
				"export { a } from './a';\nexport type C = number;\n",
			);
			expect(importCycles(sources(dir)).map((cycle) => cycle.map((f) => path.basename(f)))).toEqual(
				[['a.ts', 'b.ts', 'c.ts', 'a.ts']],
			);
		} finally {
			fs.rmSync(dir, { recursive: true, force: true });
		}
	});
});
