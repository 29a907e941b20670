import { startStack, type Stack } from '../../dev/stack/stack';
import { agent, get } from './http';

/**
 * A function scaled to zero behind faas-waker's back (an idler, kubectl) is noticed within
 * WAKER_READY_TTL: the background refresh, or the entry's expiry, sends the next request down the
 * cold path, which wakes the function again.
 */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ providerArgs: ['--function', 'idle:200'], wakerEnv: { WAKER_READY_TTL: '1s' } });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await agent.close();
});

test('a scale to zero made elsewhere is noticed within the TTL and the function is woken again', async () => {
  expect((await get(stack.url('/function/idle'))).status).toBe(200);
  expect((await get(stack.url('/function/idle'))).status).toBe(200);
  await stack.provider.hook('/_/scale-to-zero/idle');
  const scaledAt = Date.now();
  const statuses: number[] = [];
  let wokeAfterMs: number | undefined;
  for (let i = 0; i < 300 && wokeAfterMs === undefined; i++) {
    const res = await get(stack.url('/function/idle'));
    statuses.push(res.status);
    if (res.status === 200 && res.headers['x-faas-waker-cold-start-ms'] !== undefined) wokeAfterMs = Date.now() - scaledAt;
    else await new Promise((r) => setTimeout(r, 100));
  }
  // Noticed by the background refresh or the TTL (1 s), whichever first; how long that takes on a
  // loaded machine is not the point, that it happens with exactly one more scale call is.
  expect(wokeAfterMs).toBeDefined();
  expect((await stack.provider.stats()).functions['idle.openfaas-fn']?.scaleCalls).toBe(2);
  // Until then the stale "ready" sends requests on to the sleeping function, which answers 503 (no endpoints).
  expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
}, 120_000);
