import { startStack, type Stack } from '../../dev/stack/stack';
import { agent, get } from './http';

/** Bounded memory: past WAKER_MAX_HELD_PER_FUNCTION a request is refused at once, the rest still wake. */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    providerArgs: ['--function', 'crowded:1000'],
    wakerEnv: { WAKER_MAX_HELD_PER_FUNCTION: '5', WAKER_HOLD_TIMEOUT: '10s' },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await agent.close();
});

test('more held requests than the per-function limit: the excess gets 503 at once', async () => {
  const replies = await Promise.all(Array.from({ length: 8 }, () => get(stack.url('/function/crowded'))));
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
