import { startStack, type Stack } from '../../dev/stack/stack';
import { check, healthClient } from '../support/health-client';
import { agent, get, waitUntil } from './http';

/** SIGTERM with requests held: drain, grace, then 503 for what is left; never a forwarded request. */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    providerArgs: ['--function', 'soon:1500', '--function', 'late:never'],
    // A drain delay long enough that the checks below run inside it even on a loaded machine.
    wakerEnv: { WAKER_DRAIN_DELAY: '6s', WAKER_SHUTDOWN_GRACE: '4s', WAKER_HOLD_TIMEOUT: '20s' },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await agent.close();
});

test('SIGTERM during holds: health flips, the function that wakes in time succeeds, the other gets 503, exit 0', async () => {
  const health = healthClient(stack.waker.grpcPort);
  try {
    expect(await check(health, '')).toBe('SERVING');
    const soon = get(stack.url('/function/soon'));
    const late = get(stack.url('/function/late'));
    await waitUntil(
      async () => ((await (await stack.waker.admin('/status')).json()) as { heldTotal: number }).heldTotal === 2,
      30_000,
      '2 held',
    );
    stack.waker.child.proc.kill('SIGTERM');
    // Within the drain delay (6 s): after it the listeners close and the checks below could not be made.
    await waitUntil(async () => (await check(health, '')) === 'NOT_SERVING', 5_000, 'NOT_SERVING during the drain delay');
    expect((await stack.waker.admin('/readyz')).status).toBe(503);

    const [soonRes, lateRes] = await Promise.all([soon, late]);
    expect(soonRes.status).toBe(200);
    expect(JSON.parse(soonRes.text)).toMatchObject({ function: 'soon' });
    expect(lateRes.status).toBe(503);
    expect(lateRes.text).toBe('shutting down, retry\n');
    expect(lateRes.headers['retry-after']).toBe('1');
    expect(await stack.waker.child.exited).toBe(0);
    const stats = await stack.provider.stats();
    expect(stats.functions['late.openfaas-fn']?.availableReplicas).toBe(0);
    // 'exit' can come before the last stdout lines are read: wait for the last one, then look at them all.
    const events = (): unknown[] => stack.waker.logs().map((l) => l.event);
    await waitUntil(() => Promise.resolve(events().includes('shutdown.done')), 30_000, 'the shutdown.done line');
    expect(events()).toEqual(expect.arrayContaining(['shutdown.start', 'shutdown.drain', 'shutdown.release', 'shutdown.done']));
  } finally {
    health.close();
  }
}, 60_000);
