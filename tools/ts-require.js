// @ts-check
'use strict';
// Lets plain Node load the project's TypeScript: scripts/run.js loads the scripts through it, and the multi-process
// test's workers the engine. .ts files are transpiled on load with the project's compiler (no type check: `npm test`
// runs tsc over the same files; no build needed). Plain JavaScript, since it is what makes TypeScript loadable.
const fs = require('node:fs');
const ts = require('typescript');

/** @type {NodeJS.RequireExtensions} */
const extensions = require.extensions;
if (!extensions['.ts']) {
	extensions['.ts'] = function compileTypeScript(module, filename) {
		const { outputText } = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
			fileName: filename,
			compilerOptions: {
				module: ts.ModuleKind.CommonJS,
				target: ts.ScriptTarget.ES2022,
				esModuleInterop: true,
			},
		});
		/** @type {NodeJS.Module & { _compile(code: string, filename: string): void }} */ (
			module
		)._compile(outputText, filename);
	};
}
