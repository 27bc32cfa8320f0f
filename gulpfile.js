const { src, dest, parallel } = require('gulp');

/** Node icons next to the compiled nodes and credentials, where n8n looks for them. */
function copyIcons() {
	return src(['nodes/**/*.{png,svg}', 'credentials/**/*.{png,svg}'], {
		base: '.',
		encoding: false,
	}).pipe(dest('dist'));
}

/** Codex files, and the schema files the stores read to create their table. */
function copyData() {
	return src(['nodes/**/*.node.json', 'sql/*.sql'], { base: '.' }).pipe(dest('dist'));
}

exports['build:icons'] = parallel(copyIcons, copyData);
