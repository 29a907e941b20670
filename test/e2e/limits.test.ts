import { startStack, type Stack } from '../../dev/stack/stack';
import { agent, get, waitUntil, type Reply } from './http';

/** Bounded memory: past WAKER_MAX_HELD_PER_FUNCTION a request is refused at once, the rest still wake. */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    // Gated: ready only when the test releases it, so every request arrives while it sleeps, however slow the machine.
    providerArgs: ['--function', 'crowded:gate'],
    wakerEnv: { WAKER_MAX_HELD_PER_FUNCTION: '5', WAKER_HOLD_TIMEOUT: '10s' },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await agent.close();
});

test('more held requests than the per-function limit: the excess gets 503 at once', async () => {
  const early: Reply[] = [];
  const all = Promise.all(
    Array.from({ length: 8 }, () =>
      get(stack.url('/function/crowded')).then((reply) => {
        early.push(reply);
        return reply;
      }),
    ),
  );
  const heldTotal = async (): Promise<number> => ((await (await stack.waker.admin('/status')).json()) as { heldTotal: number }).heldTotal;
  await waitUntil(async () => early.length >= 3 && (await heldTotal()) === 5, 30_000, '3 answers and 5 held');
  // Nothing can be served before the release: the early answers are the refusals.
  expect(early.map((r) => r.status)).toEqual([503, 503, 503]);
  expect(await stack.provider.hook('/_/release/crowded')).toEqual({ released: ['crowded.openfaas-fn'] });
  const replies = await all;
  const refused = replies.filter((r) => r.status === 503);
  const served = replies.filter((r) => r.status === 200);
  expect(served).toHaveLength(5);
  expect(refused).toHaveLength(3);
  // "At once" without a wall-clock bound: every refusal came back before any held request was released.
  expect(Math.max(...refused.map((r) => r.ms))).toBeLessThan(Math.min(...served.map((r) => r.ms)));
  for (const r of refused) {
    expect(r.headers['retry-after']).toBe('1');
    expect(r.text).toBe('too many requests waiting for this function\n');
  }
  expect((await stack.provider.stats()).functions['crowded.openfaas-fn']?.scaleCalls).toBe(1);
});
