import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Response } from 'playwright-core';
import { startStack, type Stack } from '../../dev/stack/stack';
import { launchChromium } from '../support/browser';

/**
 * The waiting page in a real browser: headless Chromium (Debian's package, driven by playwright-core)
 * opens a sleeping function's URL through the real Envoy and faas-waker, gets the self-refreshing
 * "starting" page at once, and then, with no step of ours, the function's own answer once it is up.
 */
const FUNCTION = 'sleepy';
/** Long enough that the first page surely comes before the function is up, short enough for a quick test. */
const STARTUP_MS = 1500;
/** Generous: a loaded machine makes this slower, never red. */
const NAVIGATION_TIMEOUT_MS = 60_000;
const ANSWER_TIMEOUT_MS = 150_000;
const ARTIFACTS = join(__dirname, '..', '..', 'build', 'test-artifacts', 'waiting-page-browser');

let stack: Stack;
let browser: Browser | undefined;
let context: BrowserContext | undefined;

beforeAll(async () => {
  stack = await startStack({
    providerArgs: ['--function', `${FUNCTION}:${STARTUP_MS}`, '--function', 'other:100'],
    wakerEnv: { WAKER_HOLD_TIMEOUT: '30s', WAKER_WAKE_TIMEOUT: '60s', WAKER_READY_TTL: '60s', WAKER_LOG_LEVEL: 'debug' },
  });
  browser = await launchChromium();
  context = await browser.newContext();
}, 180_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await stack?.stop();
});

const fnStats = (key: string) => stack.provider.functionStats(key);

test('a browser gets the waiting page for a sleeping function at once, then the function itself after the refresh', async () => {
  expect(await fnStats(`${FUNCTION}.openfaas-fn`)).toMatchObject({ replicas: 0, availableReplicas: 0 });
  const page = await (context as BrowserContext).newPage();
  const url = stack.url(`/function/${FUNCTION}`);
  // Every top-level navigation the page makes, in order: the first visit and each refresh.
  const navigations: Response[] = [];
  page.on('response', (res) => {
    if (res.request().isNavigationRequest() && res.frame() === page.mainFrame()) navigations.push(res);
  });
  // Armed before the first visit: the function's answer comes from a refresh the page makes by itself.
  const answered = page.waitForResponse((res) => res.request().isNavigationRequest() && res.url() === url && res.status() === 200, {
    timeout: ANSWER_TIMEOUT_MS,
  });
  answered.catch(() => undefined); // awaited below; if an earlier step fails, its rejection is not unhandled

  const first = await page.goto(url, { waitUntil: 'load', timeout: NAVIGATION_TIMEOUT_MS });
  if (first === null) throw new Error('no response for the first navigation');
  expect(first.status()).toBe(503);
  const headers = first.headers();
  expect(headers['content-type']).toMatch(/^text\/html/);
  // `Refresh: 2` (or `2; url=...`): a few seconds, then the same URL again.
  expect(Number(/^\s*(\d+)/.exec(headers['refresh'] ?? '')?.[1])).toBeGreaterThan(0);
  expect(Number(headers['retry-after'])).toBeGreaterThan(0);
  expect(headers['cache-control']).toMatch(/no-store/);
  // The page, as the browser rendered it: it names the function and refreshes itself even without the header.
  const text = await page.locator('body').innerText();
  expect(text).toContain(FUNCTION);
  const meta = (await page.locator('meta[http-equiv="refresh" i]').getAttribute('content')) ?? '';
  expect(Number(/^\s*(\d+)/.exec(meta)?.[1])).toBeGreaterThan(0);

  mkdirSync(ARTIFACTS, { recursive: true });
  const shot = join(ARTIFACTS, 'waiting-page.png');
  await page.screenshot({ path: shot, fullPage: true });
  expect(statSync(shot).size).toBeGreaterThan(0);
  expect(readFileSync(shot).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));

  // The page was not held: the wake runs in the background, and the page's own refresh finds the function.
  const answer = await answered;
  const body = JSON.parse(await answer.text()) as { function: string; method: string; headers: Record<string, string> };
  expect(body.function).toBe(FUNCTION);
  expect(body.method).toBe('GET');
  expect(body.headers['sec-fetch-mode']).toBe('navigate'); // a refresh is a navigation like the first visit
  await page.waitForLoadState('load', { timeout: NAVIGATION_TIMEOUT_MS });
  expect(await page.locator('body').innerText()).toContain(`"function":"${FUNCTION}"`);
  await page.screenshot({ path: join(ARTIFACTS, 'function-answer.png'), fullPage: true });

  // Every visit before the answer got the waiting page (no 502/504 on the way), and one wake served them all.
  const statuses = navigations.map((n) => n.status());
  expect(statuses.at(-1)).toBe(200);
  expect(statuses.slice(0, -1).every((s) => s === 503)).toBe(true);
  expect(statuses.length).toBeGreaterThanOrEqual(2);
  expect(await fnStats(`${FUNCTION}.openfaas-fn`)).toMatchObject({ availableReplicas: 1, scaleCalls: 1 });
  await page.close();
}, 300_000);

test('a fetch() from the same browser (no text/html, sec-fetch-mode: cors) to a sleeping function is held, never given the page', async () => {
  // `other` sleeps too. The page only gives the fetch a same-origin context.
  const page = await (context as BrowserContext).newPage();
  await page.goto(stack.url(`/function/${FUNCTION}`), { waitUntil: 'load', timeout: NAVIGATION_TIMEOUT_MS });
  const got = await page.evaluate(async (target) => {
    const res = await fetch(target, { headers: { accept: 'application/json' } });
    return { status: res.status, text: await res.text() };
  }, stack.url('/function/other'));
  expect(got.status).toBe(200);
  const body = JSON.parse(got.text) as { function: string; headers: Record<string, string> };
  expect(body.function).toBe('other');
  // It was asleep and this request was held through its wake (not answered with the page, not already warm).
  expect(body.headers['x-faas-waker-cold-start']).toBe('true');
  expect(body.headers['sec-fetch-mode']).toBe('cors');
  await page.close();
}, 300_000);
