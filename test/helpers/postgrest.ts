import nock from 'nock';
import type { TemporaryPostgresDatabase } from '../../tools/temporary-database';

/**
 * Supabase cannot run here, so its REST layer is played by nock: each PostgREST request the
 * SupabaseTokenStore sends is recorded and executed as the equivalent SQL on a real PostgreSQL database that
 * has sql/postgres.sql and sql/supabase.sql applied. Only the request shapes the store uses are understood (filters
 * eq, gt, lt, lte, is, in, like, match, each optionally negated with not, several on one column, or/and trees; select,
 * order, limit, insert, update, delete, rpc); anything else answers 400 so a change in the store's requests shows up
 * as a failing test. As in PostgREST, comparisons and order follow the column's collation.
 */
export interface RecordedRequest {
	method: string;
	path: string;
	/** The query parameters; a key given more than once keeps its last value (`params` has them all). */
	query: Record<string, string>;
	/** The query parameters in order, repeated keys included. */
	params: Array<[string, string]>;
	headers: Record<string, string | string[] | undefined>;
	body: unknown;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

function ident(name: string): string {
	if (!IDENTIFIER.test(name))
		throw Object.assign(new Error(`unsupported identifier ${name}`), { status: 400 });
	return `"${name}"`;
}

/**
 * The values of PostgREST's `in.(…)` list: comma-separated, each bare or in double quotes, inside which a backslash
 * makes the next character literal (PostgREST's grammar for values holding commas, brackets or quotes).
 */
function inListValues(list: string): string[] {
	const values: string[] = [];
	const item = /\s*(?:"((?:[^"\\]|\\.)*)"|([^,"]*?))\s*(,|$)/gsy;
	let match: RegExpExecArray | null;
	while (item.lastIndex < list.length && (match = item.exec(list))) {
		values.push(match[1] !== undefined ? match[1].replace(/\\(.)/gs, '$1') : match[2]);
		if (match[3] === '') break;
	}
	if (item.lastIndex !== list.length) throw unsupported(`in list (${list})`);
	return values;
}

const unsupported = (what: string) =>
	Object.assign(new Error(`unsupported ${what}`), { status: 400 });

/** PostgREST's filter operators the store uses, as SQL (the value is the parameter `$n`). */
const OPERATORS: Record<string, (column: string, param: string) => string> = {
	eq: (column, param) => `${column} = ${param}`,
	gt: (column, param) => `${column} > ${param}`,
	lt: (column, param) => `${column} < ${param}`,
	lte: (column, param) => `${column} <= ${param}`,
	like: (column, param) => `${column} like ${param}`,
	match: (column, param) => `${column} ~ ${param}`,
	in: (column, param) => `${column} = any(${param})`,
};

/**
 * Parses the items of a PostgREST logic tree, e.g. `a.eq.1,and(b.is.null,c.lt."x,y")`, into SQL: values in double
 * quotes may hold the reserved characters , . : ( ).
 */
function logicTree(
	text: string,
	joiner: 'and' | 'or',
	filter: (column: string, operation: string) => string,
): string {
	const items: string[] = [];
	let i = 0;
	const readValue = (): string => {
		if (text[i] === '"') {
			let value = '';
			for (i += 1; text[i] !== '"'; i += 1) {
				if (i >= text.length) throw unsupported(`logic tree ${text}`);
				if (text[i] === '\\') i += 1;
				value += text[i];
			}
			i += 1;
			return value;
		}
		const start = i;
		let depth = 0;
		while (i < text.length && !((text[i] === ',' || text[i] === ')') && depth === 0)) {
			if (text[i] === '(') depth += 1;
			if (text[i] === ')') depth -= 1;
			i += 1;
		}
		return text.slice(start, i);
	};
	while (i < text.length) {
		const nested = /^(not\.)?(and|or)\(/.exec(text.slice(i));
		if (nested) {
			i += nested[0].length;
			const start = i;
			for (let depth = 1; depth > 0; i += 1) {
				if (i >= text.length) throw unsupported(`logic tree ${text}`);
				if (text[i] === '"')
					for (i += 1; i < text.length && text[i] !== '"'; i += text[i] === '\\' ? 2 : 1);
				else if (text[i] === '(') depth += 1;
				else if (text[i] === ')') depth -= 1;
			}
			const inner = logicTree(text.slice(start, i - 1), nested[2] as 'and' | 'or', filter);
			items.push(nested[1] ? `not ${inner}` : inner);
		} else {
			const head = /^(\w+)\.((?:not\.)?\w+)\./.exec(text.slice(i));
			if (!head) throw unsupported(`logic tree ${text}`);
			i += head[0].length;
			const value = readValue();
			items.push(filter(head[1], `${head[2]}.${value}`));
		}
		if (text[i] === ',') i += 1;
		else if (i < text.length) throw unsupported(`logic tree ${text}`);
	}
	return `(${items.join(` ${joiner} `)})`;
}

function sqlValue(value: unknown): unknown {
	return value !== null && typeof value === 'object' ? JSON.stringify(value) : value;
}

export function postgrestOverPostgres(
	origin: string,
	db: TemporaryPostgresDatabase,
	options: { serviceRoleKey: string },
) {
	const requests: RecordedRequest[] = [];

	async function execute(
		method: string,
		path: string,
		query: Array<[string, string]>,
		body: unknown,
		accept: string,
	) {
		const rpc = path.match(/^\/rest\/v1\/rpc\/(\w+)$/);
		if (rpc && method === 'POST') {
			const args = Object.entries(body as Record<string, unknown>);
			const call = `${ident(rpc[1])}(${args.map(([name], i) => `${ident(name)} => $${i + 1}`).join(', ')})`;
			const [row] = await db.sql<{ result: unknown }>(
				`select ${call} as result`,
				args.map(([, v]) => v),
			);
			return row.result === null ? { status: 204, body: '' } : { status: 200, body: row.result };
		}
		const table = path.match(/^\/rest\/v1\/(\w+)$/);
		if (!table) return { status: 404, body: { code: 'PGRST125', message: `Invalid path ${path}` } };
		const params: unknown[] = [];
		const where: string[] = [];
		let columns = '*';
		let limit = '';
		let order = '';
		/** One filter, e.g. column `status` with operation `eq.active`, `not.is.null` or `in.(a,b)`. */
		const filter = (column: string, operation: string): string => {
			const [, negated, operator, value] = /^(not\.)?(\w+)\.(.*)$/s.exec(operation) ?? [];
			let condition: string;
			if (operator === 'is' && value === 'null') condition = `${ident(column)} is null`;
			else if (operator in OPERATORS) {
				if (operator === 'in') {
					const list = /^\((.*)\)$/s.exec(value);
					if (!list) throw unsupported(`in list ${value}`);
					params.push(inListValues(list[1]));
				} else params.push(operator === 'like' ? value.replace(/\*/g, '%') : value);
				condition = OPERATORS[operator](ident(column), `$${params.length}`);
			} else throw unsupported(`filter ${column}=${operation}`);
			return negated ? `not (${condition})` : condition;
		};
		for (const [key, value] of query) {
			if (key === 'select') columns = value === '*' ? '*' : value.split(',').map(ident).join(', ');
			else if (key === 'limit') limit = ` limit ${Number(value)}`;
			else if (key === 'order' && /^\w+\.(asc|desc)$/.test(value))
				order = ` order by ${ident(value.split('.')[0])} ${value.split('.')[1]}`;
			else if (key === 'or' || key === 'and') {
				const tree = /^\((.*)\)$/s.exec(value);
				if (!tree) throw unsupported(`${key}=${value}`);
				where.push(logicTree(tree[1], key, filter));
			} else where.push(filter(key, value));
		}
		const whereSql = where.length ? ` where ${where.join(' and ')}` : '';
		let rows: unknown[];
		if (method === 'GET') {
			rows = await db.sql(
				`select ${columns} from public.${ident(table[1])}${whereSql}${order}${limit}`,
				params,
			);
		} else if (method === 'POST') {
			const entries = Object.entries(body as Record<string, unknown>);
			rows = await db.sql(
				`insert into public.${ident(table[1])} (${entries.map(([c]) => ident(c)).join(', ')})
				 values (${entries.map((_, i) => `$${i + 1}`).join(', ')}) returning ${columns}`,
				entries.map(([, v]) => sqlValue(v)),
			);
		} else if (method === 'PATCH') {
			const entries = Object.entries(body as Record<string, unknown>);
			const shifted = where.map((w) =>
				w.replace(/\$(\d+)/g, (_, n) => `$${Number(n) + entries.length}`),
			);
			rows = await db.sql(
				`update public.${ident(table[1])} set ${entries.map(([c], i) => `${ident(c)} = $${i + 1}`).join(', ')}
				 ${shifted.length ? `where ${shifted.join(' and ')}` : ''} returning ${columns}`,
				[...entries.map(([, v]) => sqlValue(v)), ...params],
			);
		} else if (method === 'DELETE') {
			// PostgREST bounds a delete by limit only together with an order, as here.
			if (limit && !order)
				throw Object.assign(new Error('a limited delete needs an order'), { status: 400 });
			rows = await db.sql(
				`delete from public.${ident(table[1])}
				  where ctid in (select ctid from public.${ident(table[1])}${whereSql}${order}${limit}) returning ${columns}`,
				params,
			);
		} else {
			return { status: 405, body: { message: `method ${method}` } };
		}
		if (accept.includes('application/vnd.pgrst.object+json')) {
			if (rows.length !== 1)
				return {
					status: 406,
					body: {
						code: 'PGRST116',
						message: 'JSON object requested, multiple (or no) rows returned',
					},
				};
			return { status: method === 'POST' ? 201 : 200, body: rows[0] };
		}
		return { status: method === 'POST' ? 201 : 200, body: rows };
	}

	const scope = nock(origin).persist();
	const handle = async function (
		this: nock.ReplyFnContext,
		uri: string,
		body: nock.Body,
	): Promise<nock.ReplyFnResult> {
		const url = new URL(uri, origin);
		const params = [...url.searchParams];
		const parsedBody = typeof body === 'string' && body ? JSON.parse(body) : body || undefined;
		requests.push({
			method: this.req.method,
			path: url.pathname,
			query: Object.fromEntries(params),
			params,
			headers: { ...this.req.headers },
			body: parsedBody,
		});
		if (this.req.headers.apikey !== options.serviceRoleKey)
			return [401, { message: 'Invalid API key' }];
		try {
			const result = await execute(
				this.req.method,
				url.pathname,
				params,
				parsedBody,
				String(this.req.headers.accept ?? ''),
			);
			return [result.status, result.body as nock.ReplyBody];
		} catch (error) {
			const e = error as { code?: string; message: string; status?: number };
			if (e.code === '42P01')
				return [404, { code: 'PGRST205', message: `Could not find the table in the schema cache` }];
			if (e.code === '42883')
				return [
					404,
					{ code: 'PGRST202', message: 'Could not find the function in the schema cache' },
				];
			const status = e.status ?? (e.code === '23505' ? 409 : 400);
			return [
				status,
				{ code: e.code ?? 'PGRST100', message: e.message, details: null, hint: null },
			];
		}
	};
	const interceptors = ['GET', 'POST', 'PATCH', 'DELETE'].map((method) => {
		const interceptor = scope.intercept(/^\/rest\/v1\//, method);
		interceptor.reply(handle);
		return interceptor;
	});

	return {
		requests,
		stop: () => {
			for (const interceptor of interceptors) nock.removeInterceptor(interceptor);
		},
	};
}
