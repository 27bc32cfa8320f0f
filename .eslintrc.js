/**
 * TypeScript's recommended rules for all of the code (engine, node, credentials, dev tooling, tests), and n8n's
 * community rules for package.json, credentials and nodes (eslint-plugin-n8n-nodes-base).
 * @type {import('@types/eslint').ESLint.ConfigData}
 */
module.exports = {
	root: true,
	env: { browser: false, es2022: true, node: true },
	parser: '@typescript-eslint/parser',
	parserOptions: {
		project: ['./tsconfig.json'],
		tsconfigRootDir: __dirname,
		sourceType: 'module',
		extraFileExtensions: ['.json'],
	},
	ignorePatterns: [
		'.eslintrc.js',
		'gulpfile.js',
		'jest*.config.js',
		'**/node_modules/**',
		'**/dist/**',
	],
	overrides: [
		{
			files: ['*.ts', '*.js'],
			excludedFiles: ['package.json'],
			plugins: ['@typescript-eslint'],
			extends: ['eslint:recommended', 'plugin:@typescript-eslint/recommended'],
			rules: {
				// `const { secret: _secret, ...rest } = value` drops a field on purpose.
				'@typescript-eslint/no-unused-vars': [
					'error',
					{ ignoreRestSiblings: true, argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
				],
				// A promise nobody awaits loses its error (and, in the tooling, leaves n8n or a browser running).
				'@typescript-eslint/no-floating-promises': 'error',
				'@typescript-eslint/no-misused-promises': 'error',
				// Whitespace is Prettier's (it aligns continued union members with spaces after tabs).
				'no-mixed-spaces-and-tabs': 'off',
			},
		},
		{
			// The bootstrap (scripts/run.js, tools/*.js) and the JavaScript tests are CommonJS: require() is how they load modules.
			files: ['*.js'],
			parserOptions: { sourceType: 'script' },
			rules: { '@typescript-eslint/no-require-imports': 'off' },
		},
		{
			files: ['engine/**/*.ts'],
			// The engine strips control characters from provider text and connection ids on purpose.
			rules: { 'no-control-regex': 'off' },
		},
		{
			files: ['engine/stores/supabase.ts'],
			// supabase-js types a client by its database schema; the store works on whichever table the user names.
			rules: { '@typescript-eslint/no-explicit-any': 'off' },
		},
		{
			files: ['test/**/*.ts', 'test/**/*.js'],
			env: { jest: true },
			// Tests load built files and modules at run time with require(), and hand malformed values to the code.
			rules: {
				'@typescript-eslint/no-require-imports': 'off',
				'@typescript-eslint/no-explicit-any': 'off',
			},
		},
		{
			files: ['package.json'],
			plugins: ['eslint-plugin-n8n-nodes-base'],
			extends: ['plugin:n8n-nodes-base/community'],
			rules: { 'n8n-nodes-base/community-package-json-name-still-default': 'off' },
		},
		{
			files: ['./credentials/**/*.ts'],
			plugins: ['eslint-plugin-n8n-nodes-base'],
			extends: ['plugin:n8n-nodes-base/credentials'],
			rules: {
				// Display names say what each credential holds ("OAuth2 Token Manager Supabase"); they are not APIs.
				'n8n-nodes-base/cred-class-field-display-name-missing-api': 'off',
				// Applies to n8n's own repository, where documentationUrl is a docs slug; ours is a full URL.
				'n8n-nodes-base/cred-class-field-documentation-url-miscased': 'off',
			},
		},
		{
			files: ['./nodes/**/*.ts'],
			plugins: ['eslint-plugin-n8n-nodes-base'],
			extends: ['plugin:n8n-nodes-base/nodes'],
			rules: {
				// n8n 2.x declares connections with NodeConnectionTypes.Main (the string "main"); the rule predates it.
				'n8n-nodes-base/node-class-description-inputs-wrong-regular-node': 'off',
				'n8n-nodes-base/node-class-description-outputs-wrong': 'off',
			},
		},
	],
};
