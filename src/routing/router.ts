import { parseFunctionId, type FunctionRef } from './function-ref';

export type Route =
  | { readonly kind: 'pass' }
  | { readonly kind: 'invalid'; readonly segment: string }
  | { readonly kind: 'function'; readonly fn: FunctionRef };

export interface RouterOptions {
  /** Path prefixes that address a function, each ending in '/', e.g. `/function/`. */
  readonly prefixes: readonly string[];
  readonly defaultNamespace: string;
}

const PASS: Route = { kind: 'pass' };

/**
 * Maps a request's `:path` (query string included, as Envoy sends it) to the function it addresses.
 * Paths outside the prefixes pass: faas-waker is not a router. Pure and allocation-light, because it
 * runs on the warm path.
 */
export function routeRequest(path: string, options: RouterOptions): Route {
  for (const prefix of options.prefixes) {
    if (!path.startsWith(prefix)) continue;
    const segment = path.slice(prefix.length, segmentEnd(path, prefix.length));
    const fn = parseFunctionId(segment, options.defaultNamespace);
    return fn === null ? { kind: 'invalid', segment } : { kind: 'function', fn };
  }
  return PASS;
}

/** Index where the function segment ends: the next '/', '?' or '#', or the end of the path. */
function segmentEnd(path: string, from: number): number {
  for (let i = from; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x2f || c === 0x3f || c === 0x23) return i;
  }
  return path.length;
}

/**
 * The path as the function sees it: what follows `PREFIX/NAME` in `:path`, without query or fragment,
 * `/` when nothing follows (`/function/hello/healthz?x=1` → `/healthz`). Only for paths that route to a
 * function; the cold path uses it, the warm path never does.
 */
export function functionPathOf(path: string, options: RouterOptions): string {
  const prefix = options.prefixes.find((p) => path.startsWith(p));
  if (prefix === undefined) return '/';
  const from = segmentEnd(path, prefix.length);
  let end = path.length;
  for (let i = from; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x3f || c === 0x23) {
      end = i;
      break;
    }
  }
  return from >= end ? '/' : path.slice(from, end);
}
