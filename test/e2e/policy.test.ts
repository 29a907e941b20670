import { startStack, type Stack } from '../../dev/stack/stack';
import { agent, get, waitUntil, type Reply } from './http';

/**
 * Per-function policy end to end: the real Envoy (shipped config), faas-waker as a process, and the
 * local provider reporting each function's annotations in its status, as OpenFaaS does.
 */
let stack: Stack;

const GLOBAL_HOLD = '8s';

beforeAll(async () => {
  stack = await startStack({
    providerArgs: [
      '--function',
      'patient:never',
      '--function',
      'hasty:never',
      '--function-annotation',
      'hasty:faas-waker/hold-timeout=1s',
      '--function',
      'checked:300',
      '--function-annotation',
      'checked:faas-waker/no-wake-paths=/healthz,/robots.txt',
      '--function',
      'sloppy:300',
      '--function-annotation',
      'sloppy:faas-waker/hold-timeout=soon',
    ],
    wakerEnv: { WAKER_HOLD_TIMEOUT: GLOBAL_HOLD, WAKER_WAKE_TIMEOUT: '20s', WAKER_READY_TTL: '30s', WAKER_LOG_LEVEL: 'debug' },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await agent.close();
});

const fnStats = (name: string) => stack.provider.functionStats(`${name}.openfaas-fn`);

test('faas-waker/hold-timeout: a short per-function hold answers 504 while a request with the global hold still waits', async () => {
  const order: string[] = [];
  const track = (name: string, p: Promise<Reply>): Promise<Reply> =>
    p.then((reply) => {
      order.push(name);
      return reply;
    });
  // The global-hold request goes first, so only the per-function budget can make the other one end first.
  const patient = track('patient', get(stack.url('/function/patient')));
  await waitUntil(async () => (await fnStats('patient')).scaleCalls === 1, 20_000, 'patient scaled');
  const hasty = await track('hasty', get(stack.url('/function/hasty')));
  expect([hasty.status, hasty.headers['retry-after'], hasty.text]).toEqual([504, '2', 'function did not become ready in time\n']);
  expect(order).toEqual(['hasty']);
  const slow = await patient;
  expect(slow.status).toBe(504);
  expect(order).toEqual(['hasty', 'patient']);
  // faas-waker's own 504 (body and details), not Envoy's message timeout: the override covered both holds.
  expect(slow.text).toBe('function did not become ready in time\n');
});

test('faas-waker/no-wake-paths: 503 at once while asleep and never a scale call; the same path passes once awake', async () => {
  for (const path of ['/function/checked/healthz', '/function/checked/healthz/live?x=1', '/function/checked/robots.txt']) {
    const reply = await get(stack.url(path));
    expect([reply.status, reply.headers['retry-after'], reply.text]).toEqual([
      503,
      '5',
      'function is asleep; this path does not wake it\n',
    ]);
  }
  expect((await fnStats('checked')).scaleCalls).toBe(0);

  const woke = await get(stack.url('/function/checked/'));
  expect(woke.status).toBe(200);
  expect((await fnStats('checked')).scaleCalls).toBe(1);
  const health = await get(stack.url('/function/checked/healthz'));
  expect(health.status).toBe(200);
  expect((JSON.parse(health.text) as { function: string; path: string }).path).toBe('/healthz');
  expect((await fnStats('checked')).scaleCalls).toBe(1);
});

test('an invalid policy value is logged once and ignored: the function still wakes with the global hold', async () => {
  expect((await get(stack.url('/function/sloppy'))).status).toBe(200);
  const invalidLines = (): Record<string, unknown>[] =>
    stack.waker.logs().filter((l) => l.event === 'policy.invalid' && l.fn === 'sloppy.openfaas-fn');
  // Logged before the CONTINUE, but faas-waker's stdout pipe and Envoy's answer reach this process in either order.
  await waitUntil(() => Promise.resolve(invalidLines().length > 0), 30_000, 'the policy.invalid line for sloppy');
  const invalid = invalidLines();
  expect(invalid).toEqual([expect.objectContaining({ key: 'faas-waker/hold-timeout', value: 'soon' })]);
});
