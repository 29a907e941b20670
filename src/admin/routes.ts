import type { Registry } from 'prom-client';
import { toHttpAnswer } from '../errors';
import { parseFunctionId } from '../routing/function-ref';
import type { Waker } from '../waker/waker';
import { json, type AdminAnswer, type AdminRoute } from './admin-server';
import type { AdminToken } from './admin-token';

export interface AdminState {
  readonly ready: () => boolean;
  readonly draining: () => boolean;
}

export function healthRoutes(state: AdminState): AdminRoute[] {
  return [
    (_req, url) => (url.pathname === '/healthz' ? { status: 200, body: 'ok\n' } : undefined),
    (_req, url) => {
      if (url.pathname !== '/readyz') return undefined;
      if (state.draining()) return { status: 503, body: 'draining\n' };
      return state.ready() ? { status: 200, body: 'ready\n' } : { status: 503, body: 'starting\n' };
    },
  ];
}

export function metricsRoute(registry: Registry): AdminRoute {
  return async (_req, url) =>
    url.pathname === '/metrics' ? { status: 200, body: await registry.metrics(), contentType: registry.contentType } : undefined;
}

export function statusRoute(waker: Waker, extra: () => Record<string, unknown>): AdminRoute {
  return (_req, url) =>
    url.pathname === '/status' ? json(200, { ...extra(), heldTotal: waker.heldTotal, ...waker.snapshot() }) : undefined;
}

/**
 * Routes that change anything need the admin bearer token. Without a token file they are closed, and
 * say how to open them: an admin port reachable by mistake must not let anyone wake functions.
 */
function refuseWithoutToken(token: AdminToken, authorization: string | undefined): AdminAnswer | undefined {
  switch (token.check(authorization)) {
    case 'ok':
      return undefined;
    case 'no-token-configured':
      return json(403, {
        status: 'forbidden',
        error: 'this route needs WAKER_ADMIN_TOKEN_FILE: set it to a file that holds a bearer token',
      });
    case 'token-unreadable':
      return json(403, { status: 'forbidden', error: 'WAKER_ADMIN_TOKEN_FILE cannot be read or is empty' });
    case 'denied':
      return {
        ...json(401, { status: 'unauthorized', error: 'send authorization: Bearer <the token in WAKER_ADMIN_TOKEN_FILE>' }),
        headers: { 'www-authenticate': 'Bearer realm="faas-waker admin"' },
      };
  }
}

/**
 * `POST /wake/NAME[.NAMESPACE]`: wakes a function ahead of traffic through the same single-flight
 * path as requests. Waits until ready (200) unless `?wait=false` (202 at once).
 */
export function wakeRoute(waker: Waker, defaultNamespace: string, token: AdminToken): AdminRoute {
  return async (req, url) => {
    if (!url.pathname.startsWith('/wake/')) return undefined;
    if (req.method !== 'POST') return { status: 405, body: 'use POST\n' };
    const refused = refuseWithoutToken(token, req.headers.authorization);
    if (refused !== undefined) return refused;
    const fn = parseFunctionId(url.pathname.slice('/wake/'.length), defaultNamespace);
    if (fn === null) return { status: 400, body: 'invalid function name\n' };
    const wake = waker.wake(fn);
    if (url.searchParams.get('wait') === 'false') {
      wake.catch(() => undefined); // the outcome is logged by the waker
      return json(202, { function: fn.key, status: 'waking' });
    }
    try {
      const outcome = await wake;
      return json(200, {
        function: fn.key,
        status: 'ready',
        coldStart: outcome.coldStart,
        scaled: outcome.scaled,
        startupMs: Math.round(outcome.startupMs),
      });
    } catch (err) {
      const answer = toHttpAnswer(err);
      return json(answer.status, { function: fn.key, status: 'failed', error: answer.body.trim() });
    }
  };
}
