/**
 * Prettier as n8n's node starter sets it up: tabs, single quotes, trailing commas, 100 columns.
 * @type {import('prettier').Config}
 */
module.exports = {
	semi: true,
	trailingComma: 'all',
	bracketSpacing: true,
	useTabs: true,
	tabWidth: 2,
	arrowParens: 'always',
	singleQuote: true,
	quoteProps: 'as-needed',
	endOfLine: 'lf',
	printWidth: 100,
};
