import nock from 'nock';
import type { TemporaryDatabase } from './postgres';

/**
 * Supabase cannot run here, so its REST layer is played by nock: each PostgREST request the
 * SupabaseTokenStore sends is recorded and executed as the equivalent SQL on a real PostgreSQL database that
 * has sql/postgres.sql and sql/supabase.sql applied. Only the request shapes the store uses are
 * understood (eq and lt filters, select, order, limit, insert, update, delete, rpc); anything else answers 400 so a change in
 * the store's requests shows up as a failing test.
 */
export interface RecordedRequest {
	method: string;
	path: string;
	query: Record<string, string>;
	headers: Record<string, string | string[] | undefined>;
	body: unknown;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

function ident(name: string): string {
	if (!IDENTIFIER.test(name)) throw Object.assign(new Error(`unsupported identifier ${name}`), { status: 400 });
	return `"${name}"`;
}

function sqlValue(value: unknown): unknown {
	return value !== null && typeof value === 'object' ? JSON.stringify(value) : value;
}

export function postgrestOverPostgres(origin: string, db: TemporaryDatabase, options: { serviceRoleKey: string }) {
	const requests: RecordedRequest[] = [];

	async function execute(method: string, path: string, query: Record<string, string>, body: unknown, accept: string) {
		const rpc = path.match(/^\/rest\/v1\/rpc\/(\w+)$/);
		if (rpc && method === 'POST') {
			const args = Object.entries(body as Record<string, unknown>);
			const call = `${ident(rpc[1])}(${args.map(([name], i) => `${ident(name)} => $${i + 1}`).join(', ')})`;
			const [row] = await db.sql<{ result: unknown }>(`select ${call} as result`, args.map(([, v]) => v));
			return row.result === null ? { status: 204, body: '' } : { status: 200, body: row.result };
		}
		const table = path.match(/^\/rest\/v1\/(\w+)$/);
		if (!table) return { status: 404, body: { code: 'PGRST125', message: `Invalid path ${path}` } };
		const params: unknown[] = [];
		const where: string[] = [];
		let columns = '*';
		let limit = '';
		let order = '';
		for (const [key, value] of Object.entries(query)) {
			if (key === 'select') columns = value === '*' ? '*' : value.split(',').map(ident).join(', ');
			else if (key === 'limit') limit = ` limit ${Number(value)}`;
			else if (key === 'order' && /^\w+\.(asc|desc)$/.test(value)) order = ` order by ${ident(value.split('.')[0])} ${value.split('.')[1]}`;
			else if (value.startsWith('eq.') || value.startsWith('lt.')) {
				params.push(value.slice(3));
				where.push(`${ident(key)} ${value.startsWith('eq.') ? '=' : '<'} $${params.length}`);
			} else throw Object.assign(new Error(`unsupported query ${key}=${value}`), { status: 400 });
		}
		const whereSql = where.length ? ` where ${where.join(' and ')}` : '';
		let rows: unknown[];
		if (method === 'GET') {
			rows = await db.sql(`select ${columns} from public.${ident(table[1])}${whereSql}${order}${limit}`, params);
		} else if (method === 'POST') {
			const entries = Object.entries(body as Record<string, unknown>);
			rows = await db.sql(
				`insert into public.${ident(table[1])} (${entries.map(([c]) => ident(c)).join(', ')})
				 values (${entries.map((_, i) => `$${i + 1}`).join(', ')}) returning ${columns}`,
				entries.map(([, v]) => sqlValue(v)),
			);
		} else if (method === 'PATCH') {
			const entries = Object.entries(body as Record<string, unknown>);
			const shifted = where.map((w) => w.replace(/\$(\d+)/g, (_, n) => `$${Number(n) + entries.length}`));
			rows = await db.sql(
				`update public.${ident(table[1])} set ${entries.map(([c], i) => `${ident(c)} = $${i + 1}`).join(', ')}
				 ${shifted.length ? `where ${shifted.join(' and ')}` : ''} returning ${columns}`,
				[...entries.map(([, v]) => sqlValue(v)), ...params],
			);
		} else if (method === 'DELETE') {
			// PostgREST bounds a delete by limit only together with an order, as here.
			if (limit && !order) throw Object.assign(new Error('a limited delete needs an order'), { status: 400 });
			rows = await db.sql(
				`delete from public.${ident(table[1])}
				  where ctid in (select ctid from public.${ident(table[1])}${whereSql}${order}${limit}) returning ${columns}`,
				params,
			);
		} else {
			return { status: 405, body: { message: `method ${method}` } };
		}
		if (accept.includes('application/vnd.pgrst.object+json')) {
			if (rows.length !== 1) return { status: 406, body: { code: 'PGRST116', message: 'JSON object requested, multiple (or no) rows returned' } };
			return { status: method === 'POST' ? 201 : 200, body: rows[0] };
		}
		return { status: method === 'POST' ? 201 : 200, body: rows };
	}

	const scope = nock(origin).persist();
	const handle = async function (this: nock.ReplyFnContext, uri: string, body: nock.Body): Promise<nock.ReplyFnResult> {
			const url = new URL(uri, origin);
			const query = Object.fromEntries(url.searchParams);
			const parsedBody = typeof body === 'string' && body ? JSON.parse(body) : body || undefined;
			requests.push({ method: this.req.method, path: url.pathname, query, headers: { ...this.req.headers }, body: parsedBody });
			if (this.req.headers.apikey !== options.serviceRoleKey) return [401, { message: 'Invalid API key' }];
			try {
				const result = await execute(this.req.method, url.pathname, query, parsedBody, String(this.req.headers.accept ?? ''));
				return [result.status, result.body as nock.ReplyBody];
			} catch (error) {
				const e = error as { code?: string; message: string; status?: number };
				if (e.code === '42P01') return [404, { code: 'PGRST205', message: `Could not find the table in the schema cache` }];
				if (e.code === '42883') return [404, { code: 'PGRST202', message: 'Could not find the function in the schema cache' }];
				const status = e.status ?? (e.code === '23505' ? 409 : 400);
				return [status, { code: e.code ?? 'PGRST100', message: e.message, details: null, hint: null }];
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
