/**
 * `node build/bench/release-cost.js [rounds] [n]`: what faas-waker's own release of a held burst costs,
 * with no Envoy. The real node:http2 server (src/extproc/h2-server.ts), stream handler, waker,
 * readiness cache and metrics, with a provider this file controls (a watching one, as in Kubernetes
 * mode: readiness arrives as an event). A child process (its own event loop, like Envoy) opens one
 * HTTP/2 connection and `n` (default 1000) ext_proc streams, each sending one request_headers message
 * for a sleeping function; once every request is held, the provider's event says "ready" (the flip)
 * and the child times, per stream, when its CONTINUE arrived. Per round it prints the flip →
 * CONTINUE p50/p99/max at the client, when faas-waker wrote its first and last CONTINUE, the
 * `wake.ready` line's releaseMs, and the CPU faas-waker's process spent from the flip to the last
 * CONTINUE handed to node:http2 (plus one loop turn, so the socket writes are in). The first round
 * includes JIT warm-up. A bench tool: it measures and prints, it asserts no time.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect, type ClientHttp2Stream } from 'node:http2';
import { Session } from 'node:inspector';
import { systemClock } from '../src/clock';
import { frame } from '../src/extproc/grpc-frames';
import { startH2Server } from '../src/extproc/h2-server';
import { HealthState } from '../src/extproc/health';
import type { ProcessCall } from '../src/extproc/process-call';
import { createStreamHandler } from '../src/extproc/stream-handler';
import { ProcessingRequest } from '../src/gen/envoy/service/ext_proc/v3/external_processor';
import { createLogger } from '../src/logging';
import { createMetrics } from '../src/metrics';
import type { ProviderClient, StatusListener } from '../src/provider/provider-client';
import type { FunctionStatus } from '../src/provider/provider-types';
import { createReadinessCache } from '../src/waker/readiness-cache';
import { Waker } from '../src/waker/waker';

const FN = 'sleepy';
const NAMESPACE = 'openfaas-fn';
const KEY = `${FN}.${NAMESPACE}`;
const PROCESS_PATH = '/envoy.service.ext_proc.v3.ExternalProcessor/Process';
/** Every bounded wait of the tool (all held, all answered, all closed). */
const STEP_TIMEOUT_MS = 60_000;

/** Epoch ms with sub-ms precision, comparable between the two processes (as bench/README.md's figures). */
const nowAbs = (): number => performance.timeOrigin + performance.now();

type ToChild = { kind: 'round'; n: number } | { kind: 'close' } | { kind: 'quit' };
type ToParent = { kind: 'sent' } | { kind: 'answered'; arrivals: number[] } | { kind: 'closed' } | { kind: 'error'; message: string };

if (process.argv[2] === 'client') runClient(Number(process.argv[3]));
else
  void runParent(Number(process.argv[2] ?? 6), Number(process.argv[3] ?? 1000)).catch((err: unknown) => {
    process.stderr.write(`release-cost failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });

/** The controlled provider: a watching one whose single function sleeps until `setReady(true)`. */
function controlledProvider(): { provider: ProviderClient; setReady(ready: boolean): void } {
  let ready = false;
  let replicas = 0;
  const listeners = new Set<StatusListener>();
  const status = (): FunctionStatus => ({
    name: FN,
    namespace: NAMESPACE,
    replicas,
    availableReplicas: ready ? 1 : 0,
    minScale: 1,
  });
  const provider: ProviderClient = {
    events: {
      subscribe: (listener) => (listeners.add(listener), () => void listeners.delete(listener)),
      live: () => true,
      synced: Promise.resolve(),
    },
    getStatus: () => Promise.resolve(status()),
    scale: (_fn, n) => ((replicas = n), Promise.resolve()),
    listStatuses: () => Promise.resolve([status()]),
    close: () => Promise.resolve(),
  };
  return {
    provider,
    setReady(next) {
      ready = next;
      if (!next) replicas = 0;
      const current = status();
      for (const listener of listeners) listener(KEY, current);
    },
  };
}

async function runParent(rounds: number, n: number): Promise<void> {
  const { provider, setReady } = controlledProvider();
  let releaseMs: number | undefined;
  // Info level, as in production: the only lines on this path are wake.start and wake.ready.
  const logger = createLogger('info', {
    write: (line: string) => {
      const parsed = JSON.parse(line) as { event?: string; releaseMs?: number };
      if (parsed.event === 'wake.ready') releaseMs = parsed.releaseMs;
    },
  });
  const cache = createReadinessCache({ readyTtlMs: 3_600_000, notFoundTtlMs: 1000, maxKeys: 1000 });
  const metrics = createMetrics('bench');
  const waker = new Waker(
    {
      holdTimeoutMs: 60_000,
      wakeTimeoutMs: 60_000,
      maxHeldPerFunction: n,
      maxHeldTotal: n,
      pollMinIntervalMs: 25,
      pollMaxIntervalMs: 1000,
      maxLearned: 100,
    },
    { provider, cache, clock: systemClock, logger, observer: metrics.waker },
  );
  metrics.trackHeld(waker);
  const handler = createStreamHandler({
    waker,
    router: { prefixes: ['/function/'], defaultNamespace: NAMESPACE },
    logger,
    holdTimeoutMs: 60_000,
    overrideMarginMs: 1000,
    observer: metrics.stream,
    clock: systemClock,
  });
  // Counts writes per stream: the first is the override, the second the CONTINUE.
  let overrides = 0;
  let continues = 0;
  let firstContinueAt = 0;
  let lastContinueAt = 0;
  const counting = (call: ProcessCall): void => {
    let writes = 0;
    handler({
      listen: (h) => call.listen(h),
      end: () => call.end(),
      fail: (code, message) => call.fail(code, message),
      write: (response) => {
        call.write(response);
        if (++writes === 1) overrides++;
        else if (writes === 2) {
          lastContinueAt = nowAbs();
          if (continues++ === 0) firstContinueAt = lastContinueAt;
        }
      },
    });
  };
  const server = await startH2Server('127.0.0.1:0', counting, new HealthState());
  const child = fork(__filename, ['client', String(server.port)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  // RELEASE_COST_PROFILE=DIR: a CPU profile of each release alone (flip to last CONTINUE), for DevTools.
  const profileDir = process.env['RELEASE_COST_PROFILE'];
  const profiler = profileDir === undefined ? undefined : new Session();
  profiler?.connect();
  if (profiler !== undefined) await post(profiler, 'Profiler.setSamplingInterval', { interval: 100 });
  if (profiler !== undefined) await post(profiler, 'Profiler.enable');
  const inbox = messages(child);
  process.stdout.write(`release-cost: ${n} held streams on one HTTP/2 connection, ${rounds} rounds (round 1 includes JIT warm-up)\n`);
  const summary: { p50: number; p99: number; last: number; cpuUs: number }[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      overrides = 0;
      continues = 0;
      releaseMs = undefined;
      child.send({ kind: 'round', n } satisfies ToChild);
      await inbox.next('sent');
      await until(() => overrides === n && waker.heldTotal === n, 'every request held');
      if (profiler !== undefined) await post(profiler, 'Profiler.start');
      const cpuBefore = process.cpuUsage();
      const flipAt = nowAbs();
      setReady(true);
      await until(() => continues === n, 'every CONTINUE written');
      await new Promise<void>((resolve) => setImmediate(resolve));
      const cpu = process.cpuUsage(cpuBefore);
      if (profiler !== undefined && profileDir !== undefined) {
        const { profile } = (await post(profiler, 'Profiler.stop')) as { profile: unknown };
        writeFileSync(`${profileDir}/release-round-${round}.cpuprofile`, JSON.stringify(profile));
      }
      const answered = await inbox.next('answered');
      // The release's deferred clean-up (timers, listeners) runs in the turns after the last slice.
      for (let turn = 0; turn < 10; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
      const cpuAll = process.cpuUsage(cpuBefore);
      const latencies = answered.arrivals.map((at) => at - flipAt).sort((a, b) => a - b);
      await until(() => releaseMs !== undefined, 'the wake.ready line');
      process.stdout.write(
        `round ${round}: flip → CONTINUE at client p50 ${ms(pct(latencies, 0.5))} p99 ${ms(pct(latencies, 0.99))} max ${ms(latencies.at(-1))}` +
          ` | written first ${ms(firstContinueAt - flipAt)} last ${ms(lastContinueAt - flipAt)}` +
          ` | releaseMs ${String(releaseMs)} | CPU ${((cpu.user + cpu.system) / 1000).toFixed(1)} ms` +
          ` (${((cpu.user + cpu.system) / n).toFixed(1)} µs per waiter; with clean-up ${((cpuAll.user + cpuAll.system) / n).toFixed(1)} µs)\n`,
      );
      if (round > 1)
        summary.push({
          p50: pct(latencies, 0.5) ?? 0,
          p99: pct(latencies, 0.99) ?? 0,
          last: lastContinueAt - flipAt,
          cpuUs: (cpuAll.user + cpuAll.system) / n,
        });
      child.send({ kind: 'close' } satisfies ToChild);
      await inbox.next('closed');
      // Back to sleep: the event empties the ready entry, so the next round is a cold one again.
      setReady(false);
      await until(() => waker.heldTotal === 0 && cache.get(KEY, systemClock.now()) === undefined, 'the function asleep again');
    }
    const median = (pick: (r: (typeof summary)[number]) => number): number | undefined =>
      pct(
        summary.map(pick).sort((a, b) => a - b),
        0.5,
      );
    process.stdout.write(
      `median of rounds 2–${rounds}: flip → CONTINUE p50 ${ms(median((r) => r.p50))} p99 ${ms(median((r) => r.p99))}` +
        ` | last written ${ms(median((r) => r.last))} | CPU ${median((r) => r.cpuUs)?.toFixed(1) ?? '–'} µs per waiter (with clean-up)\n`,
    );
  } finally {
    child.send({ kind: 'quit' } satisfies ToChild);
    waker.stop();
    cache.close();
    await server.stop(100);
  }
}

function runClient(port: number): void {
  const session = connect(`http://127.0.0.1:${port}`, { maxSessionMemory: 1024, peerMaxConcurrentStreams: 1_000_000 });
  session.on('error', (err: Error) => send({ kind: 'error', message: err.message }));
  const message = frame(headersMessage());
  let streams: ClientHttp2Stream[] = [];
  const send = (m: ToParent): void => void process.send?.(m);
  process.on('message', (m: ToChild) => {
    if (m.kind === 'quit') {
      session.destroy();
      process.disconnect();
      return;
    }
    if (m.kind === 'close') {
      let open = streams.length;
      for (const stream of streams) {
        stream.once('close', () => --open === 0 && send({ kind: 'closed' }));
        stream.end();
      }
      streams = [];
      return;
    }
    const arrivals = new Array<number>(m.n).fill(0);
    let answered = 0;
    for (let i = 0; i < m.n; i++) {
      const stream = session.request({ ':method': 'POST', ':path': PROCESS_PATH, 'content-type': 'application/grpc', te: 'trailers' });
      stream.on('error', () => undefined);
      let messagesSeen = 0;
      let pending: Buffer = Buffer.alloc(0);
      stream.on('data', (chunk: Buffer) => {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        // gRPC frames: 5-byte header (flag, u32 length), then the message. The second one is the CONTINUE.
        while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
          pending = pending.subarray(5 + pending.readUInt32BE(1));
          if (++messagesSeen === 2) {
            arrivals[i] = nowAbs();
            if (++answered === m.n) send({ kind: 'answered', arrivals });
          }
        }
      });
      stream.write(message);
      streams.push(stream);
    }
    send({ kind: 'sent' });
  });
}

/** request_headers as Envoy sends them for a small GET (4 forwarded headers). */
function headersMessage(): Buffer {
  const headers = Object.entries({
    ':path': `/function/${FN}`,
    ':method': 'GET',
    ':authority': '127.0.0.1:10000',
    'x-request-id': '8c0f6e3e-2a3c-4b51-9d6e-1f2a3b4c5d6e',
  }).map(([key, value]) => ({ key, value: '', rawValue: Buffer.from(value) }));
  return Buffer.from(
    ProcessingRequest.encode(
      ProcessingRequest.fromPartial({ request: { $case: 'requestHeaders', value: { headers: { headers }, endOfStream: true } } }),
    ).finish(),
  );
}

/** The child's messages by kind, in order. */
function messages(child: ChildProcess): { next<K extends ToParent['kind']>(kind: K): Promise<Extract<ToParent, { kind: K }>> } {
  const queue: ToParent[] = [];
  let wake: (() => void) | undefined;
  child.on('message', (m: ToParent) => {
    queue.push(m);
    wake?.();
  });
  return {
    async next(kind) {
      const deadline = Date.now() + STEP_TIMEOUT_MS;
      for (;;) {
        const m = queue.shift();
        if (m?.kind === 'error') throw new Error(`client: ${m.message}`);
        if (m !== undefined) {
          if (m.kind !== kind) throw new Error(`client sent ${m.kind}, expected ${kind}`);
          return m as Extract<ToParent, { kind: typeof kind }>;
        }
        if (Date.now() > deadline) throw new Error(`no ${kind} from the client within ${STEP_TIMEOUT_MS} ms`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 100);
        });
      }
    },
  };
}

function post(session: Session, method: string, params?: object): Promise<unknown> {
  return new Promise((resolve, reject) => session.post(method, params, (err, result) => (err === null ? resolve(result) : reject(err))));
}

/** Polls `done` every loop turn (a turn is what the release needs to be observed), bounded. */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

function pct(sorted: readonly number[], p: number): number | undefined {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

function ms(value: number | undefined): string {
  return value === undefined ? '–' : `${value.toFixed(1)} ms`;
}
