import { MockAgent } from 'undici';
import { createKubeClient, KubeUnavailableError, type KubeClient, type WatchEvent } from '../../src/provider/kubernetes/kube-client';
import type { KubeConnection } from '../../src/provider/kubernetes/kube-config';

const ORIGIN = 'https://kube.test:6443';
let agent: MockAgent;

beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
});

afterEach(async () => {
  await agent.close();
});

interface Seen {
  path: string;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** Intercepts one request and records what was sent. */
function intercept(seen: Seen[], statusCode: number, data: string, method = 'GET'): void {
  agent
    .get(ORIGIN)
    .intercept({ path: () => true, method })
    .reply((opts) => {
      seen.push({
        path: opts.path,
        method: opts.method,
        headers: { ...(opts.headers as Record<string, string>) },
        body: typeof opts.body === 'string' ? opts.body : undefined,
      });
      return { statusCode, data };
    });
}

function client(connection: Partial<KubeConnection> = {}, extra: Partial<Parameters<typeof createKubeClient>[1]> = {}): KubeClient {
  return createKubeClient(
    { server: ORIGIN, token: 'static-token', ...connection },
    { timeoutMs: 5_000, dispatcher: agent, watchTimeoutSeconds: 120, ...extra },
  );
}

const lines = (...events: unknown[]): string => events.map((e) => `${JSON.stringify(e)}\n`).join('');

describe('request', () => {
  test('sends the bearer token and JSON, parses JSON, never throws on a status', async () => {
    const seen: Seen[] = [];
    intercept(seen, 200, '{"kind":"Scale","spec":{"replicas":1}}', 'PATCH');
    intercept(seen, 404, '{"kind":"Status","code":404,"message":"not found"}');
    intercept(seen, 503, 'plain text');
    const c = client({ server: `${ORIGIN}/prefix/` });
    const patched = await c.request('PATCH', '/apis/apps/v1/namespaces/ns/deployments/f/scale', {
      body: { spec: { replicas: 1 } },
      contentType: 'application/merge-patch+json',
    });
    expect(patched).toEqual({ status: 200, body: { kind: 'Scale', spec: { replicas: 1 } } });
    expect(await c.request('GET', '/x')).toEqual({ status: 404, body: { kind: 'Status', code: 404, message: 'not found' } });
    expect(await c.request('GET', '/y')).toEqual({ status: 503, body: 'plain text' });
    expect(seen[0]).toMatchObject({
      path: '/prefix/apis/apps/v1/namespaces/ns/deployments/f/scale',
      method: 'PATCH',
      body: '{"spec":{"replicas":1}}',
    });
    expect(seen[0]?.headers).toMatchObject({
      authorization: 'Bearer static-token',
      'content-type': 'application/merge-patch+json',
      accept: 'application/json',
    });
    expect(seen[1]?.headers['content-type']).toBeUndefined();
  });

  test('a network failure is KubeUnavailableError (without credentials); an abort rejects with its reason', async () => {
    agent
      .get(ORIGIN)
      .intercept({ path: '/down', method: 'GET' })
      .replyWithError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    const c = client();
    const err: unknown = await c.request('GET', '/down').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeUnavailableError);
    expect((err as Error).message).toBe('Kubernetes API GET /down failed: ECONNREFUSED');
    expect((err as Error).message).not.toContain('static-token');
    const abort = new AbortController();
    abort.abort(new Error('caller gave up'));
    agent.get(ORIGIN).intercept({ path: '/slow', method: 'GET' }).reply(200, '{}').delay(1_000);
    await expect(c.request('GET', '/slow', { signal: abort.signal })).rejects.toThrow('caller gave up');
  });

  test('a tokenFile is read once, reused for tokenRefreshMs, read again after, and at once after a 401', async () => {
    let nowMs = 0;
    let contents = 'token-1\n';
    let reads = 0;
    const readTextFile = (): Promise<string> => {
      reads++;
      return Promise.resolve(contents);
    };
    const seen: Seen[] = [];
    for (const status of [200, 200, 200, 401, 200]) intercept(seen, status, '{}');
    const c = client({ token: undefined, tokenFile: '/var/run/token' }, { readTextFile, now: () => nowMs, tokenRefreshMs: 60_000 });
    await c.request('GET', '/1');
    contents = 'token-2';
    nowMs = 59_999;
    await c.request('GET', '/2');
    nowMs = 60_000;
    await c.request('GET', '/3');
    contents = 'token-3';
    await c.request('GET', '/4'); // 401: the file is read again before the next request
    await c.request('GET', '/5');
    expect(seen.map((s) => s.headers.authorization)).toEqual([
      'Bearer token-1',
      'Bearer token-1',
      'Bearer token-2',
      'Bearer token-2',
      'Bearer token-3',
    ]);
    expect(reads).toBe(3);
  });

  test('an unreadable tokenFile: KubeUnavailableError at first, the last token once one was read', async () => {
    let fail = true;
    let nowMs = 0;
    const readTextFile = (): Promise<string> =>
      fail ? Promise.reject(Object.assign(new Error('nope'), { code: 'ENOENT' })) : Promise.resolve('tok');
    const seen: Seen[] = [];
    intercept(seen, 200, '{}');
    intercept(seen, 200, '{}');
    const c = client({ token: undefined, tokenFile: '/t' }, { readTextFile, now: () => nowMs, tokenRefreshMs: 10 });
    await expect(c.request('GET', '/a')).rejects.toThrow('cannot read the token file /t: ENOENT');
    fail = false;
    await c.request('GET', '/b');
    fail = true;
    nowMs = 100;
    await c.request('GET', '/c');
    expect(seen.map((s) => s.headers.authorization)).toEqual(['Bearer tok', 'Bearer tok']);
  });
});

describe('watch', () => {
  const ev = (type: string, name: string, rv: string): unknown => ({
    type,
    object: { kind: 'Deployment', metadata: { name, resourceVersion: rv } },
  });

  async function run(
    status: number,
    body: string,
    path = '/apis/apps/v1/namespaces/ns/deployments?labelSelector=a%3Db',
    extra: Partial<Parameters<typeof createKubeClient>[1]> = {},
  ): Promise<{ end: unknown; events: WatchEvent[]; connected: number; seen: Seen[] }> {
    const seen: Seen[] = [];
    intercept(seen, status, body);
    const events: WatchEvent[] = [];
    let connected = 0;
    const end: unknown = await client({}, extra)
      .watch(
        path,
        '42',
        (e) => events.push(e),
        new AbortController().signal,
        () => connected++,
      )
      .catch((err: unknown) => err);
    return { end, events, connected, seen };
  }

  test('delivers every event type in order, adds the watch query after an existing one, and ends closed', async () => {
    const r = await run(200, lines(ev('ADDED', 'a', '43'), ev('MODIFIED', 'a', '44'), ev('BOOKMARK', '', '45'), ev('DELETED', 'a', '46')));
    expect(r.end).toEqual({ reason: 'closed' });
    expect(r.events.map((e) => `${e.type} ${e.object.metadata?.resourceVersion}`)).toEqual([
      'ADDED 43',
      'MODIFIED 44',
      'BOOKMARK 45',
      'DELETED 46',
    ]);
    expect(r.connected).toBe(1);
    expect(r.seen[0]?.path).toBe(
      '/apis/apps/v1/namespaces/ns/deployments?labelSelector=a%3Db&watch=1&resourceVersion=42&allowWatchBookmarks=true&timeoutSeconds=120',
    );
    const plain = await run(200, '', '/api/v1/namespaces/ns/pods');
    expect(plain.seen[0]?.path).toBe('/api/v1/namespaces/ns/pods?watch=1&resourceVersion=42&allowWatchBookmarks=true&timeoutSeconds=120');
  });

  test('HTTP 410 and an ERROR event with code 410 are gone; nothing after the ERROR is delivered', async () => {
    expect((await run(410, '{"kind":"Status","code":410}')).end).toEqual({ reason: 'gone' });
    const r = await run(
      200,
      lines(
        ev('ADDED', 'a', '43'),
        { type: 'ERROR', object: { kind: 'Status', code: 410, message: 'too old resource version' } },
        ev('ADDED', 'b', '50'),
      ),
    );
    expect(r.end).toEqual({ reason: 'gone' });
    expect(r.events).toHaveLength(1);
  });

  test('other HTTP errors end with their status and the Status message, without connecting', async () => {
    const r = await run(
      403,
      JSON.stringify({
        kind: 'Status',
        code: 403,
        message: 'deployments.apps is forbidden: User "faas-waker" cannot watch resource "deployments"',
      }),
    );
    expect(r.end).toEqual({
      reason: 'error',
      status: 403,
      message: 'deployments.apps is forbidden: User "faas-waker" cannot watch resource "deployments"',
    });
    expect(r.connected).toBe(0);
  });

  test('a network failure, an oversized event and garbage reject with KubeUnavailableError', async () => {
    agent
      .get(ORIGIN)
      .intercept({ path: () => true, method: 'GET' })
      .replyWithError(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
    await expect(client().watch('/w', '1', () => undefined, new AbortController().signal)).rejects.toThrow(KubeUnavailableError);
    expect((await run(200, lines(ev('ADDED', 'a'.repeat(200), '1')), '/w', { maxLineBytes: 100 })).end).toBeInstanceOf(
      KubeUnavailableError,
    );
    expect((await run(200, 'not json\n', '/w')).end).toBeInstanceOf(KubeUnavailableError);
  });

  test('an onEvent that throws rejects with its own error, not as a network failure', async () => {
    intercept([], 200, lines(ev('ADDED', 'a', '1')));
    const bug = new Error('handler bug');
    await expect(
      client().watch(
        '/w',
        '1',
        () => {
          throw bug;
        },
        new AbortController().signal,
      ),
    ).rejects.toBe(bug);
  });
});
