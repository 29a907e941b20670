/** The local provider (dev/provider) over loopback: provider API, function processes, test hooks, CLI.
 * dev/ is transpiled to a temp dir first, because the provider spawns its functions from compiled JS. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { startLocalProvider, type LocalProvider, type ProviderStats } from '../../dev/provider/provider';

jest.setTimeout(60_000); // a backstop for a loaded machine (function processes are spawned), never an expectation

const ROOT = join(__dirname, '..', '..');
let buildDir = '';

/** Type-stripping only (tsc checks types elsewhere): fast, and immune to unrelated errors in bench/. */
function transpileDev(outDir: string): void {
  const files = readdirSync(join(ROOT, 'dev'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  for (const file of files) {
    const source = readFileSync(join(ROOT, 'dev', file), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    const outFile = join(outDir, 'dev', file.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(outFile), { recursive: true });
    writeFileSync(outFile, outputText);
  }
}

beforeAll(() => {
  buildDir = mkdtempSync(join(tmpdir(), 'local-provider-test-'));
  transpileDev(buildDir);
});
afterAll(() => rmSync(buildDir, { recursive: true, force: true }));

const functionEntry = (): string => join(buildDir, 'dev', 'function', 'main.js');

interface Answer {
  status: number;
  text: string;
  headers: Headers;
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  return { status: res.status, text: await res.text(), headers: res.headers };
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> =>
  call(url, { method: 'POST', body: JSON.stringify(body), headers });

async function stats(p: LocalProvider): Promise<ProviderStats> {
  return JSON.parse((await call(`${p.url}/_/stats`)).text) as ProviderStats;
}

/** Polls until `check` holds, with a hard deadline so a broken provider fails the test instead of hanging it. */
async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A zombie counts as dead: an orphan exits at once, but a container's init may reap it late. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return process.platform !== 'linux';
  }
}

async function wakeAndWait(p: LocalProvider, name: string, ns = 'openfaas-fn'): Promise<number> {
  expect(
    (await post(`${p.url}/system/scale-function/${name}?namespace=${ns}`, { serviceName: name, namespace: ns, replicas: 1 })).status,
  ).toBe(202);
  await waitFor(async () => (await stats(p)).functions[`${name}.${ns}`]?.availableReplicas === 1);
  const pid = (await stats(p)).functions[`${name}.${ns}`]?.pid;
  if (typeof pid !== 'number') throw new Error('no pid after ready');
  return pid;
}

describe('local provider API', () => {
  let p: LocalProvider;
  beforeAll(async () => {
    p = await startLocalProvider({ functionEntry: functionEntry(), functions: ['hello:200', 'slow.staging:never:3', 'pinned:0:2'] });
  });
  afterAll(() => p.close());
  beforeEach(async () => expect((await post(`${p.url}/_/reset`, {})).status).toBe(200));

  it('answers 404 with an empty body for an unknown function and counts it', async () => {
    const res = await call(`${p.url}/system/function/nope?namespace=openfaas-fn`);
    expect([res.status, res.text]).toEqual([404, '']);
    const s = await stats(p);
    expect(s.totals).toEqual({ statusCalls: 1, scaleCalls: 0, unknownStatusCalls: 1, listCalls: 0 });
    expect(s.lastStatusQuery).toEqual({ name: 'nope', namespace: 'openfaas-fn' });
    expect((await post(`${p.url}/system/scale-function/nope`, { replicas: 1 })).status).toBe(404);
  });

  it('omits replica keys at zero and reports the min-scale label', async () => {
    const hello = JSON.parse((await call(`${p.url}/system/function/hello`)).text) as Record<string, unknown>;
    expect(hello).toEqual({
      name: 'hello',
      namespace: 'openfaas-fn',
      image: 'local/hello',
      labels: { faas_function: 'hello' },
      annotations: {},
    });
    const pinned = JSON.parse((await call(`${p.url}/system/function/pinned`)).text) as { labels: Record<string, string> };
    expect(pinned.labels['com.openfaas.scale.min']).toBe('2');
    expect((await call(`${p.url}/system/function/slow?namespace=staging`)).status).toBe(200);
    expect((await call(`${p.url}/system/function/slow`)).status).toBe(404); // default namespace
    expect((await stats(p)).lastStatusQuery).toEqual({ name: 'slow', namespace: null });
  });

  it('scales with 202, becomes ready after the delay, and stays idempotent', async () => {
    const before = performance.timeOrigin + performance.now();
    const pid = await wakeAndWait(p, 'hello');
    const fn = (await stats(p)).functions['hello.openfaas-fn'];
    expect(fn).toMatchObject({ replicas: 1, availableReplicas: 1, scaleCalls: 1, pid });
    expect(fn?.scaleRequestedAtMs).toBeGreaterThanOrEqual(before);
    expect(fn?.readyAtMs).toBeGreaterThanOrEqual((fn?.scaleRequestedAtMs ?? Infinity) + 200);
    const status = JSON.parse((await call(`${p.url}/system/function/hello`)).text) as Record<string, unknown>;
    expect(status).toMatchObject({ replicas: 1, availableReplicas: 1 });
    expect((await post(`${p.url}/system/scale-function/hello`, { replicas: 1 })).status).toBe(202);
    expect((await stats(p)).functions['hello.openfaas-fn']).toMatchObject({ pid, readyAtMs: fn?.readyAtMs, scaleCalls: 2 });
  });

  it('answers 503 at zero, then proxies to the function with headers, path and body', async () => {
    const cold = await call(`${p.url}/function/hello/x`);
    expect([cold.status, cold.text]).toEqual([503, 'No endpoints available for: hello.']);
    const pid = await wakeAndWait(p, 'hello');
    const res = await call(`${p.url}/function/hello.openfaas-fn/a/b?q=1`, { method: 'PUT', body: 'abcd', headers: { 'x-waker': 'yes' } });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({
      function: 'hello',
      method: 'PUT',
      path: '/a/b?q=1',
      bodyBytes: 4,
      pid,
      headers: { 'x-waker': 'yes' },
    });
    expect(JSON.parse((await call(`${p.url}/async-function/hello`)).text)).toMatchObject({ path: '/' });
  });

  it('accepts scale for a never-ready function (namespace from the body) but never makes it available', async () => {
    expect((await post(`${p.url}/system/scale-function/slow`, { serviceName: 'slow', namespace: 'staging', replicas: 3 })).status).toBe(
      202,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect((await stats(p)).functions['slow.staging']).toMatchObject({ replicas: 3, availableReplicas: 0, pid: null, scaleCalls: 1 });
    const status = JSON.parse((await call(`${p.url}/system/function/slow?namespace=staging`)).text) as Record<string, unknown>;
    expect(status['replicas']).toBe(3);
    expect(status).not.toHaveProperty('availableReplicas');
    expect((await call(`${p.url}/function/slow.staging`)).status).toBe(503);
  });

  it('rejects malformed scale bodies with 400 and records the last body', async () => {
    expect((await call(`${p.url}/system/scale-function/hello`, { method: 'POST', body: '{bad' })).status).toBe(400);
    expect((await post(`${p.url}/system/scale-function/hello`, { replicas: -1 })).status).toBe(400);
    expect((await stats(p)).lastScaleBody).toEqual({ replicas: -1 });
  });

  it('scale to zero and reset kill the child; the hook keeps counters', async () => {
    let pid = await wakeAndWait(p, 'hello');
    expect((await post(`${p.url}/system/scale-function/hello`, { replicas: 0 })).status).toBe(202);
    expect(isAlive(pid)).toBe(false);
    pid = await wakeAndWait(p, 'hello');
    expect((await post(`${p.url}/_/scale-to-zero/hello.openfaas-fn`, {})).status).toBe(200);
    expect(isAlive(pid)).toBe(false);
    expect((await stats(p)).functions['hello.openfaas-fn']).toMatchObject({ scaleCalls: 3, replicas: 0, readyAtMs: null, pid: null });
    pid = await wakeAndWait(p, 'pinned');
    await post(`${p.url}/_/reset`, {});
    expect(isAlive(pid)).toBe(false);
    const s = await stats(p);
    expect(s.functions['pinned.openfaas-fn']).toMatchObject({ scaleCalls: 0, statusCalls: 0, replicas: 0, pid: null });
    expect(s.totals).toEqual({ statusCalls: 0, scaleCalls: 0, unknownStatusCalls: 0, listCalls: 0 });
    expect((await call(`${p.url}/function/pinned`)).status).toBe(503);
  });

  it('injects faults on /system/* only, and reset clears them', async () => {
    await post(`${p.url}/_/fault`, { mode: 'status500' });
    expect(await call(`${p.url}/system/function/hello`)).toMatchObject({ status: 500, text: 'boom' });
    expect((await post(`${p.url}/system/scale-function/hello`, { replicas: 1 })).status).toBe(500);
    await post(`${p.url}/_/fault`, { mode: 'garbage' });
    expect(await call(`${p.url}/system/function/hello`)).toMatchObject({ status: 200, text: '{not json' });
    await post(`${p.url}/_/fault`, { mode: 'hang' });
    await expect(call(`${p.url}/system/function/hello`, { signal: AbortSignal.timeout(300) })).rejects.toThrow();
    expect((await call(`${p.url}/healthz`)).text).toBe('OK');
    const hanging = call(`${p.url}/system/function/hello`);
    hanging.catch(() => undefined); // observed below; avoids an unhandled rejection meanwhile
    await waitFor(async () => (await stats(p)).totals.statusCalls === 4);
    await post(`${p.url}/_/reset`, {});
    await expect(hanging).rejects.toThrow(); // released by reset, not left open
    expect((await stats(p)).fault).toBe('none');
    expect((await call(`${p.url}/system/function/hello`)).status).toBe(200);
    expect((await post(`${p.url}/_/fault`, { mode: 'nope' })).status).toBe(400);
  });

  it('adds functions at runtime and lists them per namespace', async () => {
    expect((await post(`${p.url}/_/functions`, { spec: 'extra.staging:0:2' })).status).toBe(201);
    expect((await post(`${p.url}/_/functions`, { spec: 'extra.staging:0:2' })).status).toBe(200);
    expect((await post(`${p.url}/_/functions`, { spec: 'Bad:x' })).status).toBe(400);
    const list = JSON.parse((await call(`${p.url}/system/functions?namespace=staging`)).text) as { name: string }[];
    expect(list.map((f) => f.name).sort()).toEqual(['extra', 'slow']);
    await wakeAndWait(p, 'extra', 'staging');
  });
});

/**
 * The gap between "available" and "listening": the steps the tests below take inside it (a status call
 * and two proxied requests; a scale to zero) must fit in it on a loaded machine, so it is not short.
 */
const LISTEN_DELAY_MS = 3_000;

describe('local provider: a readiness gap (listen-delay) and labels/annotations', () => {
  let p: LocalProvider;
  const events: { event: string; fields: Record<string, unknown> }[] = [];
  beforeAll(async () => {
    p = await startLocalProvider({
      functionEntry: functionEntry(),
      log: (event, fields) => void events.push({ event, fields }),
      functions: [
        `gap:100:listen-delay=${LISTEN_DELAY_MS}`,
        {
          name: 'tagged',
          namespace: 'openfaas-fn',
          startDelayMs: 0,
          minScale: 2,
          labels: { 'faas-waker/hold-timeout': '5s', 'com.openfaas.scale.min': '3' },
          annotations: { 'com.openfaas.ready.http.path': '/_/ready', 'faas-waker/no-wake-paths': '/health,/robots.txt' },
        },
      ],
    });
  });
  afterAll(() => p.close());
  beforeEach(async () => expect((await post(`${p.url}/_/reset`, {})).status).toBe(200));

  it('reports availableReplicas while connections are still refused (500, as faas-provider), then serves; counters tell them apart', async () => {
    expect((await post(`${p.url}/system/scale-function/gap`, { replicas: 1 })).status).toBe(202);
    await waitFor(async () => (await stats(p)).functions['gap.openfaas-fn']?.availableReplicas === 1);
    const status = JSON.parse((await call(`${p.url}/system/function/gap`)).text) as Record<string, unknown>;
    expect(status).toMatchObject({ replicas: 1, availableReplicas: 1 });
    // Reported ready, not accepting: the child is spawned only LISTEN_DELAY_MS after the announcement.
    const during = await Promise.all([call(`${p.url}/function/gap`, { method: 'POST', body: 'x' }), call(`${p.url}/function/gap/_/ready`)]);
    expect(during.map((r) => [r.status, r.text])).toEqual([
      [500, "Can't reach service for: gap."],
      [500, "Can't reach service for: gap."],
    ]);
    await waitFor(async () => (await call(`${p.url}/function/gap`)).status === 200);
    const fn = (await stats(p)).functions['gap.openfaas-fn'];
    // Node's timers count whole milliseconds of loop time, so one can fire up to 1 ms before the
    // sub-millisecond clock these stamps use says its delay is over (seen: 0.15 ms early).
    const TIMER_GRANULARITY_MS = 1;
    expect(fn?.readyAtMs).toBeGreaterThanOrEqual((fn?.availableAtMs ?? Infinity) + LISTEN_DELAY_MS - TIMER_GRANULARITY_MS);
    expect(fn?.availableAtMs).toBeGreaterThanOrEqual((fn?.scaleRequestedAtMs ?? Infinity) + 100 - TIMER_GRANULARITY_MS);
    expect(fn?.proxyFailuresByMethod['POST']).toBe(1);
    expect(fn?.proxyFailures).toBe((fn?.proxyFailuresByMethod['GET'] ?? 0) + 1);
    expect(fn?.proxied).toBeGreaterThan(fn?.proxyFailures ?? Infinity);
  });

  it('answers 503 (no endpoints) before the announcement and counts it apart from failed connections', async () => {
    expect((await call(`${p.url}/function/gap`, { method: 'POST', body: 'x' })).status).toBe(503);
    expect((await stats(p)).functions['gap.openfaas-fn']).toMatchObject({
      noEndpoints: 1,
      proxied: 0,
      proxyFailures: 0,
      availableAtMs: null,
    });
  });

  it('scaling to zero during the gap cancels that start: a later wake spawns exactly one child', async () => {
    const mark = events.length;
    expect((await post(`${p.url}/system/scale-function/gap`, { replicas: 1 })).status).toBe(202);
    await waitFor(async () => (await stats(p)).functions['gap.openfaas-fn']?.availableReplicas === 1);
    expect((await post(`${p.url}/system/scale-function/gap`, { replicas: 0 })).status).toBe(202);
    expect((await stats(p)).functions['gap.openfaas-fn']).toMatchObject({ replicas: 0, availableReplicas: 0, availableAtMs: null });
    expect((await post(`${p.url}/system/scale-function/gap`, { replicas: 1 })).status).toBe(202);
    await waitFor(async () => (await call(`${p.url}/function/gap`)).status === 200);
    // The second child spawns a full listen delay after the second scale, so after the first one would have.
    const seen = events.slice(mark).filter((e) => e.fields['function'] === 'gap.openfaas-fn');
    expect(seen.filter((e) => e.event === 'available')).toHaveLength(2);
    expect(seen.filter((e) => e.event === 'start')).toHaveLength(1);
  });

  it('reports labels (over its own) and annotations in status and list', async () => {
    const status = JSON.parse((await call(`${p.url}/system/function/tagged`)).text) as Record<string, unknown>;
    expect(status).toMatchObject({
      labels: { faas_function: 'tagged', 'com.openfaas.scale.min': '3', 'faas-waker/hold-timeout': '5s' },
      annotations: { 'com.openfaas.ready.http.path': '/_/ready', 'faas-waker/no-wake-paths': '/health,/robots.txt' },
    });
    const list = JSON.parse((await call(`${p.url}/system/functions`)).text) as { name: string; annotations: Record<string, string> }[];
    expect(list.find((f) => f.name === 'tagged')?.annotations['faas-waker/no-wake-paths']).toBe('/health,/robots.txt');
    expect(list.find((f) => f.name === 'gap')?.annotations).toEqual({});
  });

  it('adds a function with labels and annotations at runtime; bad ones answer 400', async () => {
    const added = await post(`${p.url}/_/functions`, {
      spec: 'runtime:0',
      labels: { 'faas-waker/waiting-page': 'on' },
      annotations: { 'faas-waker/ready-path': '/ok' },
    });
    expect(added.status).toBe(201);
    const status = JSON.parse((await call(`${p.url}/system/function/runtime`)).text) as Record<string, unknown>;
    expect(status).toMatchObject({ labels: { 'faas-waker/waiting-page': 'on' }, annotations: { 'faas-waker/ready-path': '/ok' } });
    expect((await post(`${p.url}/_/functions`, { spec: 'bad1:0', labels: { 'a b': 'x' } })).status).toBe(400);
    expect((await post(`${p.url}/_/functions`, { spec: 'bad2:0', annotations: { k: 1 } })).status).toBe(400);
    expect((await post(`${p.url}/_/functions`, { spec: 'bad3:0', labels: ['x'] })).status).toBe(400);
  });
});

describe('local provider with basic auth and faasd-style 200', () => {
  let p: LocalProvider;
  beforeAll(async () => {
    p = await startLocalProvider({
      functionEntry: functionEntry(),
      functions: ['hello:0'],
      auth: { user: 'admin', password: 's3cret' },
      scaleStatus: 200,
    });
  });
  afterAll(() => p.close());
  const basic = (creds: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(creds).toString('base64')}` });

  it('requires the credentials on /system/* only', async () => {
    const denied = await call(`${p.url}/system/function/hello`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toBe('Basic realm="Restricted"');
    expect((await call(`${p.url}/system/function/hello`, { headers: basic('admin:wrong') })).status).toBe(401);
    expect((await call(`${p.url}/system/function/hello`, { headers: basic('admin:s3cret') })).status).toBe(200);
    expect((await post(`${p.url}/system/scale-function/hello`, { replicas: 1 }, basic('admin:s3cret'))).status).toBe(200);
    expect((await stats(p)).lastAuthorization).toBe(basic('admin:s3cret')['authorization']);
    await waitFor(async () => (await call(`${p.url}/function/hello`)).status === 200);
    expect((await call(`${p.url}/healthz`)).status).toBe(200);
  });
});

describe('local provider CLI', () => {
  let proc: ChildProcess | null = null;
  afterEach(() => proc?.kill('SIGKILL'));

  /** Starts the CLI and resolves with its base URL once it printed the listening line. */
  async function startCli(args: string[]): Promise<string> {
    const child = spawn(process.execPath, [join(buildDir, 'dev', 'provider', 'main.js'), '--port', '0', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    proc = child;
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
      });
      child.once('exit', (code) => reject(new Error(`provider exited early with ${String(code)}`)));
    });
    const event = JSON.parse(line) as { event: string; port: number };
    expect(event).toEqual({ event: 'listening', port: expect.any(Number) as number });
    return `http://127.0.0.1:${event.port}`;
  }

  async function wakeViaCli(url: string): Promise<number> {
    await post(`${url}/system/scale-function/fn-1`, { replicas: 1 });
    let pid = 0;
    await waitFor(async () => {
      const res = await call(`${url}/function/fn-1`);
      if (res.status === 200) pid = (JSON.parse(res.text) as { pid: number }).pid;
      return res.status === 200;
    });
    return pid;
  }

  it.each(['SIGTERM', 'SIGKILL'] as const)('leaves no function process behind after %s', async (signal) => {
    const url = await startCli(['--functions-count', '2', '--functions-delay', '0']);
    const pid = await wakeViaCli(url);
    const exited = new Promise((r) => proc?.once('exit', (code, sig) => r({ code, sig })));
    proc?.kill(signal);
    expect(await exited).toEqual(signal === 'SIGTERM' ? { code: 0, sig: null } : { code: null, sig: 'SIGKILL' });
    await waitFor(() => !isAlive(pid));
  });

  it('takes labels and annotations from flags, split at the first colon and equals sign', async () => {
    const url = await startCli([
      '--function',
      'hello.staging:0',
      '--function-label',
      'hello.staging:faas-waker/hold-timeout=2s',
      '--function-annotation',
      'hello.staging:faas-waker/no-wake-paths=/a=b,/c:d',
    ]);
    const status = JSON.parse((await call(`${url}/system/function/hello?namespace=staging`)).text) as Record<string, unknown>;
    expect(status).toMatchObject({ labels: { 'faas-waker/hold-timeout': '2s' }, annotations: { 'faas-waker/no-wake-paths': '/a=b,/c:d' } });
  });

  it.each([
    [['--function', 'hello:0', '--function-label', 'other:k=v']],
    [['--function', 'hello:0', '--function-annotation', 'hello:novalue']],
    [['--function', 'hello:0:listen-delay=soon']],
    [['--function', 'hello:gate:listen-delay=5']],
  ])('exits 2 on bad label, annotation or listen-delay flags: %j', async (args) => {
    const child = spawn(process.execPath, [join(buildDir, 'dev', 'provider', 'main.js'), '--port', '0', ...args], { stdio: 'ignore' });
    proc = child;
    expect(await new Promise((r) => child.once('exit', r))).toBe(2);
  });

  it('prints its usage, with the listen-delay and label/annotation syntax, on --help', async () => {
    const child = spawn(process.execPath, [join(buildDir, 'dev', 'provider', 'main.js'), '--help'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    proc = child;
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    // 'close', not 'exit': 'exit' can come before the last of stdout has been read.
    expect(await new Promise((r) => child.once('close', r))).toBe(0);
    expect(out).toContain('listen-delay=MS');
    expect(out).toContain('--function-label name[.ns]:key=value');
    expect(out).toContain('--function-annotation name[.ns]:key=value');
  });

  it('exits 2 on invalid flags', async () => {
    const child = spawn(process.execPath, [join(buildDir, 'dev', 'provider', 'main.js'), '--function', 'x:soon', '--scale-status', '201'], {
      stdio: 'ignore',
    });
    proc = child;
    expect(await new Promise((r) => child.once('exit', r))).toBe(2);
  });
});
