'use strict';
// Lets plain Node scripts (the store latency script, the multi-process test's workers) require the TypeScript
// engine directly: .ts files are transpiled on load with the project's compiler (no type check, no build needed).
const fs = require('node:fs');
const ts = require('typescript');

if (!require.extensions['.ts']) {
	require.extensions['.ts'] = function compileTypeScript(module, filename) {
		const { outputText } = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
			fileName: filename,
			compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
		});
		module._compile(outputText, filename);
	};
}
