/** Test hooks under `/_/*` (always open, JSON): observe counters, reset, inject faults, add functions,
 * release gated functions. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { buildStats, isFaultMode, resetObservations, setFault, type ProviderContext } from './context';
import { BadRequestError, readJsonObject, sendJson, sendText } from './http-util';
import { checkMetadata, functionKey, parseAddress, parseSpec, withMetadata, type FunctionSpec, type MetadataKind } from './spec';

const SCALE_TO_ZERO_ROUTE = /^\/_\/scale-to-zero\/([^/]+)$/;
const RELEASE_ROUTE = /^\/_\/release(?:\/([^/]+))?$/;

export async function handleHook(ctx: ProviderContext, req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
  if (pathname === '/_/stats' && req.method === 'GET') {
    sendJson(res, 200, buildStats(ctx));
    return;
  }
  if (req.method !== 'POST') {
    sendText(res, 404, 'Not Found');
    return;
  }
  if (pathname === '/_/reset') return reset(ctx, res);
  if (pathname === '/_/fault') return fault(ctx, req, res);
  if (pathname === '/_/functions') return addFunction(ctx, req, res);
  const target = SCALE_TO_ZERO_ROUTE.exec(pathname)?.[1];
  if (target !== undefined) return scaleToZero(ctx, res, target);
  const release = RELEASE_ROUTE.exec(pathname);
  if (release !== null) return releaseGated(ctx, res, release[1]);
  sendText(res, 404, 'Not Found');
}

/** `/_/release/NAME` opens one gated function, `/_/release` every gated function at the same moment. */
function releaseGated(ctx: ProviderContext, res: ServerResponse, target: string | undefined): void {
  const released = ctx.registry.release(target === undefined ? undefined : [parseAddress(target, ctx.defaultNamespace)]);
  if (target !== undefined && released.length === 0) {
    sendText(res, 404, 'no such gated function');
    return;
  }
  ctx.log('released', { functions: released });
  sendJson(res, 200, { released });
}

async function reset(ctx: ProviderContext, res: ServerResponse): Promise<void> {
  setFault(ctx, 'none');
  await ctx.registry.stopAll(); // resolves once every child has exited, so callers can assert on pids
  resetObservations(ctx);
  ctx.log('reset', {});
  sendJson(res, 200, { ok: true });
}

async function fault(ctx: ProviderContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { mode } = await readJsonObject(req);
  if (!isFaultMode(mode)) throw new BadRequestError('mode must be one of none, status500, garbage, hang');
  setFault(ctx, mode);
  sendJson(res, 200, { mode });
}

/** Body `{spec, labels?, annotations?}`: the spec grammar of `--function`, plus string maps like the flags. */
async function addFunction(ctx: ProviderContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJsonObject(req);
  const { spec } = body;
  if (typeof spec !== 'string') throw new BadRequestError('spec must be a string');
  let parsed = parseSpec(spec, ctx.defaultNamespace); // SpecError answers 400
  for (const kind of ['labels', 'annotations'] as const) parsed = addMetadata(parsed, kind, body[kind]);
  // Idempotent so a benchmark can re-create its functions on a provider it already used.
  const created = ctx.registry.add(parsed);
  if (created) ctx.log('added', { function: functionKey(parsed), startDelayMs: parsed.startDelayMs, minScale: parsed.minScale });
  sendJson(res, created ? 201 : 200, { function: functionKey(parsed), created });
}

function addMetadata(spec: FunctionSpec, kind: MetadataKind, value: unknown): FunctionSpec {
  if (value === undefined) return spec;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new BadRequestError(`${kind} must be an object of strings`);
  let out = spec;
  for (const [key, text] of Object.entries(value)) {
    if (typeof text !== 'string') throw new BadRequestError(`${kind}.${key} must be a string`);
    checkMetadata(key, text);
    out = withMetadata(out, kind, key, text);
  }
  return out;
}

async function scaleToZero(ctx: ProviderContext, res: ServerResponse, target: string): Promise<void> {
  const fn = parseAddress(target, ctx.defaultNamespace);
  const found = await ctx.registry.scale(fn, 0);
  if (found) sendJson(res, 200, { function: functionKey(fn), replicas: 0 });
  else sendText(res, 404, 'function not found');
}
