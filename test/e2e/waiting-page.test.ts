import { request } from 'undici';
import { startStack, type Stack } from '../../dev/stack/stack';
import { agent, get, waitUntil } from './http';

/**
 * The waiting page end to end, with the real Envoy and its shipped config (whose forward_rules must
 * pass accept, upgrade, x-requested-with and sec-fetch-mode to faas-waker): a browser navigation to a
 * sleeping function gets the page at once while the function wakes, and the function's own answer on
 * a later load; programs are held as before. (waiting-page-browser.test.ts drives a real Chromium.)
 */
let stack: Stack;

/** What Chromium sends for a top-level navigation. */
const BROWSER = {
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36',
};

beforeAll(async () => {
  stack = await startStack({
    providerArgs: [
      '--function',
      'site:800',
      '--function',
      'head:800',
      '--function',
      'api:300',
      '--function',
      'xhr:300',
      '--function',
      'plain:300',
      '--function-annotation',
      'plain:faas-waker/waiting-page=off',
    ],
    wakerEnv: { WAKER_HOLD_TIMEOUT: '10s', WAKER_WAKE_TIMEOUT: '20s', WAKER_READY_TTL: '30s' },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await agent.close();
});

const fnStats = (name: string) => stack.provider.functionStats(`${name}.openfaas-fn`);

test('a browser gets the waiting page while the function starts, then the function itself', async () => {
  const page = await get(stack.url('/function/site/index.html'), BROWSER);
  expect(page.status).toBe(503);
  expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
  expect(page.headers['cache-control']).toBe('no-store');
  expect(page.headers['retry-after']).toBe('2');
  expect(page.headers['refresh']).toBe('2');
  expect(page.text).toContain('<code>site</code> in namespace <code>openfaas-fn</code>');
  expect(page.text).toMatch(/<meta http-equiv="refresh" content="2">/);
  // Served before the function was ready, and the wake was started for it.
  await waitUntil(async () => (await fnStats('site')).scaleCalls === 1, 20_000, 'site scaled');

  // "Refresh" until the function answers (bounded): pages until then, then the function's own JSON.
  let reply = page;
  await waitUntil(
    async () => {
      reply = await get(stack.url('/function/site/index.html'), BROWSER);
      return reply.status !== 503;
    },
    20_000,
    'site answering',
  );
  expect(reply.status).toBe(200);
  expect(JSON.parse(reply.text)).toMatchObject({ function: 'site', path: '/index.html' });
  expect((await fnStats('site')).scaleCalls).toBe(1);
});

test('HEAD from a browser gets the page headers (no body)', async () => {
  const res = await request(stack.url('/function/head'), { method: 'HEAD', headers: BROWSER, dispatcher: agent });
  await res.body.dump();
  expect([res.statusCode, res.headers['content-type'], res.headers['refresh']]).toEqual([503, 'text/html; charset=utf-8', '2']);
});

test.each([
  ['a program (accept */*)', 'api', { accept: '*/*' }],
  ['an XHR from a page', 'xhr', { ...BROWSER, 'x-requested-with': 'XMLHttpRequest', 'sec-fetch-mode': 'cors' }],
  ['a browser, with the page turned off for the function', 'plain', BROWSER],
])('%s is held and gets the function answer', async (_name, fn, headers) => {
  const reply = await get(stack.url(`/function/${fn}`), headers);
  expect(reply.status).toBe(200);
  const body = JSON.parse(reply.text) as { function: string; headers: Record<string, string> };
  expect([body.function, body.headers['x-faas-waker-cold-start']]).toEqual([fn, 'true']);
});
