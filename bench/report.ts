/* The benchmark's figures: per scenario and contender, the terminal tables, and the chart (SVG page → PNG). */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

export interface ContenderResult {
	contender: string;
	label: string;
	executions: number;
	succeeded: number;
	failed: number;
	retryBoundHits: number;
	apiCalls: number;
	failedApiCalls: number;
	tokenRequests: number;
	failedTokenRequests: number;
	grantAlive: boolean;
	p50Ms: number;
	p95Ms: number;
	firstFailure?: string;
}

export interface ScenarioResult {
	scenario: string;
	title: string;
	note: string;
	contenders: ContenderResult[];
}

export interface EngineResult {
	store: string;
	skipped?: string;
	rawRead?: { p50: number; p95: number };
	getValidToken?: { p50: number; p95: number };
}

export function percentile(values: number[], p: number): number {
	if (!values.length) return NaN;
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function table(headers: string[], rows: string[][]): string {
	const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
	const line = (cells: string[]) =>
		cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
	return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const ms = (value: number) => (Number.isFinite(value) ? `${Math.round(value)} ms` : '-');

/** A contender's p50 over the built-in OAuth2's (B) in the same scenario: below 1 is faster than n8n's own. */
export function ratioToBuiltIn(s: ScenarioResult, c: ContenderResult): number {
	const builtIn = s.contenders.find((other) => other.contender === 'b-oauth2');
	return builtIn ? c.p50Ms / builtIn.p50Ms : NaN;
}

export function scenarioTable(s: ScenarioResult): string {
	const rows = s.contenders.map((c) => [
		c.label,
		`${c.succeeded}/${c.executions}`,
		String(c.failed) + (c.retryBoundHits ? ` (${c.retryBoundHits} bound)` : ''),
		`${c.failedApiCalls}/${c.apiCalls}`,
		c.failedTokenRequests
			? `${c.tokenRequests} (${c.failedTokenRequests} failed)`
			: String(c.tokenRequests),
		c.grantAlive ? 'yes' : 'NO',
		ms(c.p50Ms),
		ms(c.p95Ms),
		Number.isFinite(ratioToBuiltIn(s, c)) ? `${ratioToBuiltIn(s, c).toFixed(2)}×` : '-',
	]);
	const headers = [
		'contender',
		'succeeded',
		'failed',
		'401s/API calls',
		'token requests',
		'grant alive',
		'p50',
		'p95',
		'p50 / B',
	];
	const failures = s.contenders
		.filter((c) => c.firstFailure)
		.map((c) => `  ${c.contender}, first failure: ${c.firstFailure}`);
	return [`${s.title}\n${s.note}\n\n${table(headers, rows)}`, ...failures].join('\n');
}

export function engineTable(results: EngineResult[]): string {
	const us = (value: number) => `${(value * 1000).toFixed(0)} µs`;
	const rows = results.map((r) =>
		r.skipped || !r.rawRead || !r.getValidToken
			? [r.store, 'skipped', '', '', '', '', '']
			: [
					r.store,
					us(r.rawRead.p50),
					us(r.rawRead.p95),
					us(r.getValidToken.p50),
					us(r.getValidToken.p95),
					`${(r.getValidToken.p50 / r.rawRead.p50).toFixed(2)}×`,
					us(r.getValidToken.p50 - r.rawRead.p50),
				],
	);
	return `Engine: Get Valid Token on a fresh token vs a raw primary-key read of the same row (same driver)\n\n${table(
		['store', 'raw p50', 'raw p95', 'GVT p50', 'GVT p95', 'ratio p50', 'added p50'],
		rows,
	)}`;
}

const COLORS: Record<string, string> = {
	'a-template': '#c0392b',
	'b-oauth2': '#e67e22',
	'c-pg': '#27ae60',
	'c-sqlite': '#2e86c1',
};
const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** One panel per metric; a group of bars per scenario, one bar per contender. */
export function chartSvg(scenarios: ScenarioResult[], subtitle: string): string {
	const metrics: Array<{
		title: string;
		value: (c: ContenderResult) => number;
		format: (v: number) => string;
	}> = [
		{
			title: 'Failed executions (% of executions)',
			value: (c) => (100 * c.failed) / Math.max(1, c.executions),
			format: (v) => `${v.toFixed(0)}%`,
		},
		{
			title: 'API calls refused with 401',
			value: (c) => c.failedApiCalls,
			format: (v) => String(v),
		},
		{ title: 'Token requests', value: (c) => c.tokenRequests, format: (v) => String(v) },
		{
			title: 'p50 execution time (ms)',
			value: (c) => c.p50Ms,
			format: (v) => String(Math.round(v)),
		},
	];
	const contenders = [
		...new Map(
			scenarios.flatMap((s) => s.contenders.map((c) => [c.contender, c.label] as const)),
		).entries(),
	];
	const panelW = 560;
	const panelH = 250;
	const width = panelW * 2 + 60;
	const height = 110 + panelH * 2 + 80;
	const parts: string[] = [
		`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
		`<rect width="100%" height="100%" fill="#fff"/>`,
		`<text x="20" y="30" font-size="20" font-weight="bold">OAuth2 token handling in real n8n: three contenders, same provider</text>`,
		`<text x="20" y="52" fill="#555">${escape(subtitle)}</text>`,
	];
	contenders.forEach(([key, label], i) => {
		const x = 20 + i * 270;
		parts.push(
			`<rect x="${x}" y="66" width="14" height="14" fill="${COLORS[key] ?? '#888'}"/><text x="${x + 20}" y="78">${escape(label)}</text>`,
		);
	});
	metrics.forEach((metric, m) => {
		const ox = 20 + (m % 2) * (panelW + 20);
		const oy = 100 + Math.floor(m / 2) * (panelH + 40);
		const max = Math.max(
			1,
			...scenarios.flatMap((s) => s.contenders.map(metric.value).filter(Number.isFinite)),
		);
		const plotH = panelH - 60;
		parts.push(`<text x="${ox}" y="${oy + 14}" font-weight="bold">${escape(metric.title)}</text>`);
		parts.push(
			`<line x1="${ox}" y1="${oy + 30 + plotH}" x2="${ox + panelW}" y2="${oy + 30 + plotH}" stroke="#999"/>`,
		);
		const groupW = panelW / scenarios.length;
		scenarios.forEach((s, g) => {
			const barW = Math.min(34, (groupW - 20) / Math.max(1, s.contenders.length));
			const gx = ox + g * groupW + (groupW - barW * s.contenders.length) / 2;
			s.contenders.forEach((c, k) => {
				const value = metric.value(c);
				const h = Number.isFinite(value) ? (value / max) * plotH : 0;
				const x = gx + k * barW;
				const y = oy + 30 + plotH - h;
				parts.push(
					`<rect x="${x + 2}" y="${y}" width="${barW - 4}" height="${h}" fill="${COLORS[c.contender] ?? '#888'}"/>`,
				);
				parts.push(
					`<text x="${x + barW / 2}" y="${y - 3}" text-anchor="middle" font-size="10">${Number.isFinite(value) ? metric.format(value) : '-'}</text>`,
				);
			});
			parts.push(
				`<text x="${ox + g * groupW + groupW / 2}" y="${oy + 48 + plotH}" text-anchor="middle">${escape(s.scenario)}</text>`,
			);
		});
	});
	parts.push('</svg>');
	return parts.join('\n');
}

/** Writes the SVG and, with the project's headless Chromium (Debian's package), a PNG of it; resolves the files. */
export async function writeChart(svg: string, svgFile: string, pngFile: string): Promise<string[]> {
	fs.writeFileSync(svgFile, `${svg}\n`);
	const [, width, height] = /width="(\d+)" height="(\d+)"/.exec(svg) ?? [];
	const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2tm-chart-'));
	try {
		await promisify(execFile)(
			process.env.CHROMIUM || '/usr/bin/chromium',
			[
				'--headless',
				'--no-sandbox',
				'--disable-gpu',
				'--hide-scrollbars',
				`--user-data-dir=${profile}`,
				`--window-size=${width},${height}`,
				`--screenshot=${pngFile}`,
				`file://${svgFile}`,
			],
			{ timeout: 120_000 },
		);
		return [svgFile, pngFile];
	} catch (error) {
		process.stderr.write(
			`chart PNG skipped (headless Chromium: ${(error as Error).message.split('\n')[0]})\n`,
		);
		return [svgFile];
	} finally {
		fs.rmSync(profile, { recursive: true, force: true });
	}
}
