import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from '../../dev/stack/stack';
import { agent, get, waitUntil } from './http';

/** What operators see: cold starts in headers and access logs, exact metrics, bounded series, pre-warm. */
let stack: Stack;
const TOKEN = 'e2e-admin-token-0123456789';
const tokenFile = join(mkdtempSync(join(tmpdir(), 'faas-waker-ops-')), 'admin-token');
writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
const withToken = { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } };

beforeAll(async () => {
  stack = await startStack({
    providerArgs: [
      '--function',
      'cold:300',
      '--function',
      'never:never',
      // Its own short hold (the script waits out its 504); every other hold is the generous global one,
      // so a cold start or a status call on a loaded machine never meets it.
      '--function-annotation',
      'never:faas-waker/hold-timeout=1500ms',
      '--function',
      'prewarm:300',
    ],
    wakerEnv: {
      WAKER_HOLD_TIMEOUT: '30s',
      WAKER_READY_TTL: '30s',
      WAKER_CACHE_MAX_KEYS: '500',
      WAKER_NOT_FOUND_TTL: '30s',
      WAKER_ADMIN_TOKEN_FILE: tokenFile,
    },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await agent.close();
});

async function metrics(): Promise<Map<string, number>> {
  const text = await (await stack.waker.admin('/metrics')).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const idx = line.lastIndexOf(' ');
    values.set(line.slice(0, idx), Number(line.slice(idx + 1)));
  }
  return values;
}
const metric = (all: Map<string, number>, name: string): number => all.get(name) ?? 0;

test('a cold request shows the cold-start header and access-log field; a warm one does not', async () => {
  const cold = await get(stack.url('/function/cold'));
  expect(cold.status).toBe(200);
  const coldMs = Number(cold.headers['x-faas-waker-cold-start-ms']);
  expect(coldMs).toBeGreaterThanOrEqual(250);
  const warm = await get(stack.url('/function/cold'));
  expect(warm.status).toBe(200);
  expect(warm.headers['x-faas-waker-cold-start-ms']).toBeUndefined();
  await waitUntil(
    () => Promise.resolve(stack.envoy.accessLog().filter((l) => l.includes('/function/cold')).length >= 2),
    30_000,
    'access log lines',
  );
  const lines = stack.envoy.accessLog().filter((l) => l.includes('"GET /function/cold"'));
  expect(lines[0]).toContain(`cold_start_ms=${coldMs}`);
  expect(lines[1]).toContain('cold_start_ms=-');
});

test('/metrics shows exactly the cold starts, warm passes, 404s and 504s a script caused', async () => {
  const before = await metrics();
  // The script: 1 cold start (then 3 warm), 2 unknown functions (404), 1 never-ready (504), 1 pass-through.
  expect((await get(stack.url('/function/prewarm'))).status).toBe(200);
  for (let i = 0; i < 3; i++) expect((await get(stack.url('/function/prewarm'))).status).toBe(200);
  expect((await get(stack.url('/function/ghost-a'))).status).toBe(404);
  expect((await get(stack.url('/function/ghost-b'))).status).toBe(404);
  expect((await get(stack.url('/function/never'))).status).toBe(504);
  await get(stack.url('/not-a-function'));
  const after = await metrics();
  const delta = (name: string): number => metric(after, name) - metric(before, name);
  expect(delta('faas_waker_cold_starts_total{function="prewarm.openfaas-fn"}')).toBe(1);
  expect(delta('faas_waker_decisions_total{outcome="woken",reason=""}')).toBe(1);
  expect(delta('faas_waker_decisions_total{outcome="warm",reason=""}')).toBe(3);
  expect(delta('faas_waker_decisions_total{outcome="rejected",reason="not_found"}')).toBe(2);
  expect(delta('faas_waker_decisions_total{outcome="rejected",reason="hold_timeout"}')).toBe(1);
  expect(delta('faas_waker_decisions_total{outcome="pass",reason=""}')).toBe(1);
  // Every hold is in the histogram, the 504 too; the never-ready wake itself is still going.
  expect(delta('faas_waker_hold_wait_seconds_count{result="woken"}')).toBe(1);
  expect(delta('faas_waker_hold_wait_seconds_count{result="hold_timeout"}')).toBe(1);
  expect(delta('faas_waker_wakes_total{result="woken"}')).toBe(1);
  // A function never seen is checked first (one status call, never a scale): an unknown one starts no wake.
  expect(delta('faas_waker_wakes_total{result="not_found"}')).toBe(0);
  expect(delta('faas_waker_provider_requests_total{call="status",status="4xx"}')).toBe(2);
  expect(delta('faas_waker_provider_requests_total{call="scale",status="2xx"}')).toBe(2); // prewarm + never
  expect(metric(after, 'faas_waker_held_requests{function="other"}')).toBe(0);
});

test('10,000 requests with random unknown names leave metric series and cache keys bounded', async () => {
  const seriesBefore = (await metrics()).size;
  const names = Array.from({ length: 10_000 }, (_, i) => `rnd-${i.toString(36)}-${Math.random().toString(36).slice(2, 8)}`);
  for (let i = 0; i < names.length; i += 200) {
    const replies = await Promise.all(names.slice(i, i + 200).map((n) => get(stack.url(`/function/${n}`))));
    for (const r of replies) expect(r.status).toBe(404);
  }
  const after = await metrics();
  // Only series of bounded label sets may appear (a first hold_timeout or provider_unavailable on a
  // loaded machine adds a histogram's 17 series), never one per name: 10,000 names would add 10,000.
  expect(after.size - seriesBefore).toBeLessThan(250);
  expect([...after.keys()].some((k) => k.includes('rnd-'))).toBe(false);
  const status = (await (await stack.waker.admin('/status')).json()) as { cache: { ready: number; notFound: number } };
  expect(status.cache.notFound).toBeLessThanOrEqual(500);
}, 120_000);

test('POST /wake/NAME scales a sleeping function and the following request is warm', async () => {
  await stack.provider.hook('/_/scale-to-zero/prewarm');
  // Routes that change anything need the bearer token from WAKER_ADMIN_TOKEN_FILE.
  const refused = await stack.waker.admin('/wake/prewarm.openfaas-fn', { method: 'POST' });
  expect([refused.status, refused.headers.get('www-authenticate')]).toEqual([401, 'Bearer realm="faas-waker admin"']);
  expect(
    (await stack.waker.admin('/wake/prewarm.openfaas-fn', { method: 'POST', headers: { authorization: 'Bearer wrong' } })).status,
  ).toBe(401);
  const woke = await stack.waker.admin('/wake/prewarm.openfaas-fn', withToken);
  expect(woke.status).toBe(200);
  expect(await woke.json()).toMatchObject({ function: 'prewarm.openfaas-fn', status: 'ready', scaled: true });
  const res = await get(stack.url('/function/prewarm'));
  expect(res.status).toBe(200);
  expect(res.headers['x-faas-waker-cold-start-ms']).toBeUndefined();
  expect((await stack.waker.admin('/wake/Bad..name', withToken)).status).toBe(400);
  expect((await stack.waker.admin('/wake/ghost-c', withToken)).status).toBe(404);
});

test('health endpoints answer', async () => {
  expect((await stack.waker.admin('/healthz')).status).toBe(200);
  expect((await stack.waker.admin('/readyz')).status).toBe(200);
});
