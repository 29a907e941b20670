import { startStack, type Stack } from '../../dev/stack/stack';
import { agent, get } from './http';

/** What a client sees when the provider misbehaves or is gone: a clear 5xx, fast, never a hang. */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    providerArgs: ['--function', 'a:100', '--function', 'b:100', '--function', 'c:100', '--function', 'd:100'],
    wakerEnv: { WAKER_HOLD_TIMEOUT: '5s', WAKER_PROVIDER_TIMEOUT: '1s' },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await agent.close();
});

afterEach(async () => {
  if (stack.provider.child.proc.exitCode === null) await stack.provider.hook('/_/fault', { mode: 'none' });
});

test('provider answering 500 gives 502', async () => {
  await stack.provider.hook('/_/fault', { mode: 'status500' });
  const res = await get(stack.url('/function/a'));
  expect(res.status).toBe(502);
  expect(res.text).toBe('function provider error\n');
  expect(res.text).not.toContain('boom');
});

test('provider answering garbage JSON gives 502', async () => {
  await stack.provider.hook('/_/fault', { mode: 'garbage' });
  const res = await get(stack.url('/function/b'));
  expect(res.status).toBe(502);
});

test('a provider that hangs gives a 5xx after the provider timeout, not a hang', async () => {
  await stack.provider.hook('/_/fault', { mode: 'hang' });
  const res = await get(stack.url('/function/c'));
  expect(res.status).toBe(503);
  expect(res.text).toBe('function provider unavailable\n'); // faas-waker's answer after its provider timeout, not Envoy's
  expect(res.headers['retry-after']).toBeDefined();
});

test('after a failure nothing is cached: the next request wakes the function', async () => {
  await stack.provider.hook('/_/fault', { mode: 'status500' });
  expect((await get(stack.url('/function/d'))).status).toBe(502);
  await stack.provider.hook('/_/fault', { mode: 'none' });
  expect((await get(stack.url('/function/d'))).status).toBe(200);
});

test('provider unreachable gives 503 function provider unavailable', async () => {
  await stack.provider.stop();
  const res = await get(stack.url('/function/never-seen'));
  expect(res.status).toBeGreaterThanOrEqual(500);
  expect(res.status).toBe(503);
  expect(res.text).toBe('function provider unavailable\n');
  expect(res.headers['retry-after']).toBeDefined();
});
