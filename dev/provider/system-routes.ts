/** The faas-provider API under `/system/*`: function status, scale, list. Basic auth and fault
 * injection apply here only, because this is the surface faas-waker talks to. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ProviderContext } from './context';
import { BadRequestError, hasBasicAuth, readJsonObject, sendEmpty, sendJson, sendText } from './http-util';

const STATUS_ROUTE = /^\/system\/function\/([^/]+)$/;
const SCALE_ROUTE = /^\/system\/scale-function\/([^/]+)$/;

type RouteKind = 'status' | 'scale' | 'list';

export async function handleSystem(
  ctx: ProviderContext,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  search: string,
): Promise<void> {
  ctx.lastAuthorization = req.headers.authorization ?? null;
  if (ctx.auth && !hasBasicAuth(req.headers.authorization, ctx.auth)) {
    sendText(res, 401, 'Unauthorized', { 'www-authenticate': 'Basic realm="Restricted"' });
    return;
  }
  const query = new URLSearchParams(search);
  const status = STATUS_ROUTE.exec(pathname);
  if (status?.[1] !== undefined && req.method === 'GET') return handleStatus(ctx, res, status[1], query);
  const scale = SCALE_ROUTE.exec(pathname);
  if (scale?.[1] !== undefined && req.method === 'POST') return handleScale(ctx, req, res, scale[1], query);
  if (pathname === '/system/functions' && req.method === 'GET') {
    ctx.totals.listCalls += 1;
    if (faultHandled(ctx, res, 'list')) return;
    sendJson(res, 200, ctx.registry.list(query.get('namespace') || ctx.defaultNamespace));
    return;
  }
  sendText(res, 404, 'Not Found');
}

function handleStatus(ctx: ProviderContext, res: ServerResponse, name: string, query: URLSearchParams): void {
  const namespaceParam = query.get('namespace');
  const fn = { name, namespace: namespaceParam || ctx.defaultNamespace };
  ctx.lastStatusQuery = { name, namespace: namespaceParam };
  ctx.totals.statusCalls += 1;
  if (ctx.registry.has(fn)) ctx.registry.countStatusCall(fn);
  else ctx.totals.unknownStatusCalls += 1;
  if (faultHandled(ctx, res, 'status')) return;
  const body = ctx.registry.status(fn);
  if (body === null) sendEmpty(res, 404);
  else sendJson(res, 200, body);
}

async function handleScale(
  ctx: ProviderContext,
  req: IncomingMessage,
  res: ServerResponse,
  name: string,
  query: URLSearchParams,
): Promise<void> {
  const body = await readJsonObject(req);
  ctx.lastScaleBody = body;
  ctx.totals.scaleCalls += 1;
  // faas-netes reads the namespace from the query, faasd from the body: accept either, query first.
  const bodyNamespace = typeof body['namespace'] === 'string' ? body['namespace'] : '';
  const fn = { name, namespace: query.get('namespace') || bodyNamespace || ctx.defaultNamespace };
  ctx.registry.countScaleCall(fn);
  if (faultHandled(ctx, res, 'scale')) return;
  const replicas = body['replicas'];
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    throw new BadRequestError('replicas must be an integer >= 0');
  }
  const found = await ctx.registry.scale(fn, replicas);
  sendEmpty(res, found ? ctx.scaleStatus : 404);
}

/** Applies the current fault mode; true when the request was answered (or deliberately left hanging). */
function faultHandled(ctx: ProviderContext, res: ServerResponse, kind: RouteKind): boolean {
  switch (ctx.fault) {
    case 'none':
      return false;
    case 'status500':
      sendText(res, 500, 'boom');
      return true;
    case 'garbage':
      if (kind !== 'status') return false;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{not json');
      return true;
    case 'hang':
      ctx.hung.add(res);
      res.on('close', () => ctx.hung.delete(res));
      return true;
  }
}
