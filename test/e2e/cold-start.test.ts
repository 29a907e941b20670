import { jsonLine } from '../../dev/stack/child';
import type { ProviderStats } from '../../dev/provider/provider';
import { startStack, type Stack } from '../../dev/stack/stack';
import { agent, get, getAbandonable, waitUntil } from './http';

/**
 * The core promise, end to end: the real Envoy, faas-waker as a process, the local provider as a
 * process running real function processes. One stack for the whole file.
 */
let stack: Stack;

const AUTH = 'waker:s3cret';

beforeAll(async () => {
  stack = await startStack({
    providerArgs: [
      '--auth',
      AUTH,
      '--function',
      'hello:300',
      '--function',
      'burst:500',
      '--function',
      'slow:1200',
      '--function',
      'never:never',
      // Its own short hold (the 504 test waits it out); every other wake gets the generous global one.
      '--function-annotation',
      'never:faas-waker/hold-timeout=3s',
      '--function',
      'warm:100',
      '--function',
      'nsfn.staging:100',
      '--function',
      'minscale:100:2',
      '--function',
      'leaver:gate',
      '--function',
      'forged:300',
    ],
    wakerEnv: {
      // Generous: a cold start (a process spawn plus its delay) on a loaded machine must never meet the
      // hold; only `never` has a short one (its annotation), for the 504 test.
      WAKER_HOLD_TIMEOUT: '30s',
      WAKER_WAKE_TIMEOUT: '30s',
      WAKER_READY_TTL: '30s',
      // The "remembered briefly" test asks twice: the entry must not expire between the two requests.
      WAKER_NOT_FOUND_TTL: '30s',
      WAKER_PROVIDER_USER: 'waker',
      WAKER_PROVIDER_PASSWORD: 's3cret',
      WAKER_LOG_LEVEL: 'debug',
    },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await agent.close();
});

/**
 * Status calls the provider saw, except those of `never`: its wake (never ready) goes on polling in the
 * background for WAKER_WAKE_TIMEOUT after its 504, so later tests count everything else.
 */
const statusCallsBesidesNever = (stats: ProviderStats): number =>
  stats.totals.statusCalls - (stats.functions['never.openfaas-fn']?.statusCalls ?? 0);

/** A log line of that background wake (its `wake.failed` comes WAKER_WAKE_TIMEOUT after it started). */
const isNeverWakeLine = (line: string): boolean => jsonLine(line)?.fn === 'never.openfaas-fn';

const fnStats = (key: string) => stack.provider.functionStats(key);

test('a cold request to a function at zero replicas gets 200 from the function', async () => {
  const before = await fnStats('hello.openfaas-fn');
  expect(before.availableReplicas).toBe(0);
  expect(before.replicas).toBe(0);
  const res = await get(stack.url('/function/hello/some/path?x=1'));
  expect(res.status).toBe(200);
  const body = JSON.parse(res.text) as { function: string; path: string; headers: Record<string, string> };
  expect(body.function).toBe('hello');
  expect(body.path).toBe('/some/path?x=1');
  expect(body.headers['x-faas-waker-cold-start']).toBe('true');
  expect(Number(body.headers['x-faas-waker-wait-ms'])).toBeGreaterThanOrEqual(250);
  const after = await fnStats('hello.openfaas-fn');
  expect(after.scaleCalls).toBe(1);
  expect(after.availableReplicas).toBe(1);
});

test('x-faas-waker-* headers a client sends never reach the function: only faas-waker sets them', async () => {
  const forged = { 'x-faas-waker-cold-start': 'forged', 'x-faas-waker-wait-ms': '999999', 'x-faas-waker-admin': 'yes' };
  const seen = async (): Promise<Record<string, string>> =>
    (JSON.parse((await get(stack.url('/function/forged'), forged)).text) as { headers: Record<string, string> }).headers;
  const cold = await seen();
  expect(cold['x-faas-waker-cold-start']).toBe('true');
  expect(Number(cold['x-faas-waker-wait-ms'])).toBeLessThan(999_999);
  expect(cold['x-faas-waker-admin']).toBeUndefined();
  const warm = await seen(); // the warm path adds nothing, and nothing forged is left
  expect(Object.keys(warm).filter((k) => k.startsWith('x-faas-waker-'))).toEqual([]);
});

test('200 concurrent cold requests to one function all succeed with exactly one scale call', async () => {
  const replies = await Promise.all(Array.from({ length: 200 }, () => get(stack.url('/function/burst'))));
  expect(replies.map((r) => r.status)).toEqual(Array(200).fill(200));
  const stats = await fnStats('burst.openfaas-fn');
  expect(stats.scaleCalls).toBe(1);
  // Status calls depend on the start-up time and the poll schedule, not on the 200 waiters: never more
  // than fixed 100 ms polling for the start-up the provider saw (+1 for the scale call's round trip).
  const startupMs = (stats.readyAtMs ?? 0) - (stats.scaleRequestedAtMs ?? 0);
  expect(stats.statusCalls).toBeLessThanOrEqual(1 + Math.ceil(startupMs / 100) + 1);
});

test('warm requests within the cache TTL make no provider calls', async () => {
  expect((await get(stack.url('/function/warm'))).status).toBe(200);
  const before = await stack.provider.stats();
  for (let i = 0; i < 50; i++) {
    const res = await get(stack.url('/function/warm'));
    expect(res.status).toBe(200);
    expect((JSON.parse(res.text) as { headers: Record<string, string> }).headers['x-faas-waker-cold-start']).toBeUndefined();
  }
  const after = await stack.provider.stats();
  expect(after.totals.statusCalls).toBe(before.totals.statusCalls);
  expect(after.totals.scaleCalls).toBe(before.totals.scaleCalls);
});

test('an unknown function gets 404, and the answer is remembered briefly', async () => {
  const first = await get(stack.url('/function/nosuchfn'));
  expect(first.status).toBe(404);
  expect(first.text).toBe('function not found\n');
  const before = (await stack.provider.stats()).totals.unknownStatusCalls;
  expect((await get(stack.url('/function/nosuchfn'))).status).toBe(404);
  expect((await stack.provider.stats()).totals.unknownStatusCalls).toBe(before);
});

test.each([
  ['upper case', '/function/Hello'],
  ['64 characters', `/function/${'a'.repeat(64)}`],
  ['dot dot', '/function/../x'],
  ['encoded dots', '/function/%2e%2e/x'],
  ['encoded slash', '/function/hel%2Flo'],
  ['empty', '/function/'],
  ['empty namespace', '/function/hello./x'],
  ['three labels', '/function/a.b.c'],
])('invalid name (%s) gets 400 and never reaches the provider', async (_label, path) => {
  const before = (await stack.provider.stats()).totals;
  const res = await get(stack.url(path));
  // Envoy's path normalisation decodes %2e and resolves "/function/../x" to "/x" before any filter
  // runs: that is no function path at all and passes to the gateway (404 there); either way the
  // provider API sees nothing.
  if (path.endsWith('/x') && !path.includes('a.b')) expect([400, 404]).toContain(res.status);
  else expect(res.status).toBe(400);
  const after = (await stack.provider.stats()).totals;
  expect(after.statusCalls).toBe(before.statusCalls);
  expect(after.unknownStatusCalls).toBe(before.unknownStatusCalls);
  expect(after.scaleCalls).toBe(before.scaleCalls);
});

test('a function that never becomes ready gets 504 after the hold timeout, with retry-after', async () => {
  const res = await get(stack.url('/function/never'));
  expect(res.status).toBe(504);
  expect(res.headers['retry-after']).toBeDefined();
  expect(res.ms).toBeGreaterThanOrEqual(2_900);
  // faas-waker's own answer (Envoy's message-timeout 504 has an empty body), however long the machine took.
  expect(res.text).toBe('function did not become ready in time\n');
});

test('a hold longer than 200 ms works (override_message_timeout)', async () => {
  const res = await get(stack.url('/function/slow'));
  expect(res.status).toBe(200);
  expect(res.ms).toBeGreaterThan(1_000);
  expect(await stack.envoy.stat('http.ingress.ext_proc.faas_waker.override_message_timeout_received')).toBeGreaterThan(0);
});

test('NAME.NAMESPACE reaches the provider with that namespace, with basic auth', async () => {
  const res = await get(stack.url('/function/nsfn.staging'));
  expect(res.status).toBe(200);
  const stats = await stack.provider.stats();
  expect(stats.functions['nsfn.staging']?.scaleCalls).toBe(1);
  expect(stats.lastScaleBody).toEqual({ serviceName: 'nsfn', namespace: 'staging', replicas: 1 });
  expect(stats.lastAuthorization).toBe(`Basic ${Buffer.from(AUTH).toString('base64')}`);
});

test('a wake asks for com.openfaas.scale.min replicas', async () => {
  expect((await get(stack.url('/function/minscale'))).status).toBe(200);
  expect((await stack.provider.stats()).lastScaleBody).toMatchObject({ serviceName: 'minscale', replicas: 2 });
});

test('paths outside the function prefixes pass through untouched', async () => {
  const before = await stack.provider.stats();
  const res = await get(stack.url('/healthz-gateway-check'));
  // The local provider has no such route: what matters is that the request reached it, unchanged.
  expect(res.status).toBe(404);
  const health = await get(stack.url('/system-free/healthz'));
  expect(health.status).toBe(404);
  const after = await stack.provider.stats();
  expect(statusCallsBesidesNever(after)).toBe(statusCallsBesidesNever(before));
});

test('a client that disconnects while held releases its waiter; the others still succeed', async () => {
  const status = async () => (await (await stack.waker.admin('/status')).json()) as { heldTotal: number; held: Record<string, number> };
  const staying = Array.from({ length: 3 }, () => get(stack.url('/function/leaver')));
  const leaving = Array.from({ length: 5 }, () => getAbandonable(stack.url('/function/leaver')));
  await waitUntil(async () => (await status()).heldTotal === 8, 30_000, '8 held requests');
  for (const client of leaving) client.abandon();
  await waitUntil(async () => (await status()).heldTotal === 3, 30_000, 'the 5 leavers released');
  // Gated: ready only now, so the releases above happened while the wake was still under way.
  expect(await stack.provider.hook('/_/release/leaver')).toEqual({ released: ['leaver.openfaas-fn'] });
  const replies = await Promise.all(staying);
  expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
  expect((await status()).heldTotal).toBe(0);
});

test('logs: config without secrets, wake lines with the request id, nothing per warm request', async () => {
  const config = stack.waker.logs().find((l) => l.event === 'config');
  expect(JSON.stringify(config)).not.toContain('s3cret');
  expect(JSON.stringify(config)).toContain('"providerAuthMode":"basic"');
  const res = await get(stack.url('/function/logged'), { 'x-request-id': 'rid-cold-1' });
  expect(res.status).toBe(404); // unknown to the provider: a function never seen is checked (one status call) before any wake
  await get(stack.url('/function/hello'), { 'x-request-id': 'rid-cold-2' });
  // Lines of those requests may still be in the pipe: a first marker, and count from after it.
  expect((await get(stack.url('/function/log-marker-a'), { 'x-request-id': 'rid-marker-a' })).status).toBe(404);
  await waitUntil(
    () => Promise.resolve(stack.waker.child.lines.some((l) => l.includes('rid-marker-a') && l.includes('request.rejected'))),
    30_000,
    'the first marker',
  );
  const linesBefore = stack.waker.child.lines.length;
  for (let i = 0; i < 20; i++) await get(stack.url('/function/hello'), { 'x-request-id': `rid-warm-${i}` });
  // A marker instead of a sleep: an unknown function logs its wake, and the log is one ordered pipe,
  // so anything a warm request had logged would come before the marker's first line.
  expect((await get(stack.url('/function/log-marker'), { 'x-request-id': 'rid-marker-z' })).status).toBe(404);
  await waitUntil(() => Promise.resolve(stack.waker.child.lines.some((l) => l.includes('rid-marker-z'))), 30_000, 'the marker log line');
  const sinceWarm = stack.waker.child.lines.slice(linesBefore).filter((l) => !isNeverWakeLine(l));
  expect(
    sinceWarm.slice(
      0,
      sinceWarm.findIndex((l) => l.includes('rid-marker-z')),
    ),
  ).toEqual([]);
  const wakeLines = stack.waker.logs().filter((l) => l.requestId === 'rid-cold-1');
  expect(wakeLines.map((l) => l.event)).toEqual(['request.rejected']);
  expect(wakeLines.every((l) => l.fn === 'logged.openfaas-fn')).toBe(true);
  // A real wake names the request that started it, so it can be joined to Envoy's access log.
  expect(
    stack.waker
      .logs()
      .filter((l) => l.event === 'wake.start')
      .every((l) => typeof l.requestId === 'string'),
  ).toBe(true);
  expect(stack.waker.logs().some((l) => l.event === 'wake.start')).toBe(true);
});

test('the provider password appears nowhere: logs, metrics, status, error bodies, access log', async () => {
  const basic = Buffer.from(AUTH).toString('base64');
  // Error paths too: an unknown function and an invalid name, after everything this file did.
  const answers = [await get(stack.url('/function/ghost-pw')), await get(stack.url('/function/Bad'))];
  const captured = [
    ...stack.waker.child.lines,
    await (await stack.waker.admin('/metrics')).text(),
    await (await stack.waker.admin('/status')).text(),
    ...answers.map((a) => `${JSON.stringify(a.headers)} ${a.text}`),
    ...stack.envoy.accessLog(),
  ].join('\n');
  expect(captured.length).toBeGreaterThan(1000);
  expect(captured).not.toContain('s3cret');
  expect(captured).not.toContain(basic);
});
