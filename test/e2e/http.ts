import { request as httpRequest } from 'node:http';
import { Agent, request } from 'undici';

/** Enough connections that N concurrent test requests are really concurrent at Envoy. */
export const agent = new Agent({ connections: 512, pipelining: 1, keepAliveTimeout: 5_000 });

export interface Reply {
  status: number;
  headers: Record<string, string>;
  text: string;
  ms: number;
}

export async function get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  const started = performance.now();
  const res = await request(url, { dispatcher: agent, headers, headersTimeout: 60_000, bodyTimeout: 60_000 });
  const text = await res.body.text();
  const flat: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) flat[k] = Array.isArray(v) ? v.join(',') : (v ?? '');
  return { status: res.statusCode, headers: flat, text, ms: performance.now() - started };
}

/** Sends a GET on its own connection and destroys it after `afterMs`: a client that goes away mid-hold. */
export function getAndAbandon(url: string, afterMs: number): Promise<void> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { agent: false });
    req.on('error', () => resolve());
    req.on('response', (res) => {
      res.resume();
      resolve();
    });
    req.end();
    setTimeout(() => {
      req.destroy();
      resolve();
    }, afterMs);
  });
}

/** Sends a GET on its own connection; `abandon()` destroys it: a client that goes away when the test says so. */
export function getAbandonable(url: string): { abandon(): void } {
  const req = httpRequest(url, { agent: false });
  req.on('error', () => undefined);
  req.on('response', (res) => res.resume());
  req.end();
  return { abandon: () => req.destroy() };
}

export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
