/**
 * Load generators for the e2e load tests: a closed loop and a fixed-rate open loop on HTTP/1.1
 * keep-alive connections, and an h2c burst (prior knowledge, many streams per connection) that keeps
 * the client's descriptors low while thousands of requests are in flight. All bounded by a request
 * count; every answer is counted, so a test can assert "zero non-2xx" and show what went wrong.
 */
import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { makePool } from '../../bench/open-loop';

const SAMPLE_CHARS = 160;
const MAX_SAMPLES = 10;

/** Counts answers by status ("error" for transport failures) and keeps a few non-2xx samples. */
export class Tally {
  readonly statusCounts: Record<string, number> = {};
  readonly samples: string[] = [];
  answered = 0;
  ok = 0;

  add(status: number | 'error', detail: string): void {
    this.answered += 1;
    const key = String(status);
    this.statusCounts[key] = (this.statusCounts[key] ?? 0) + 1;
    if (typeof status === 'number' && status >= 200 && status < 300) this.ok += 1;
    else if (this.samples.length < MAX_SAMPLES) this.samples.push(`${key}: ${detail.slice(0, SAMPLE_CHARS)}`);
  }

  get notOk(): number {
    return this.answered - this.ok;
  }
}

export interface LoadResult {
  readonly tally: Tally;
  readonly elapsedMs: number;
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

async function one(p: Pool, path: string, tally: Tally): Promise<void> {
  try {
    const res = await p.request({ path, method: 'GET' });
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    if (ok) {
      await res.body.dump({ limit: 1 << 20 });
      tally.add(res.statusCode, '');
    } else {
      tally.add(res.statusCode, await res.body.text());
    }
  } catch (err) {
    tally.add('error', describe(err));
  }
}

export interface ClosedLoopSpec {
  readonly origin: string;
  readonly path: string;
  readonly connections: number;
  readonly total: number;
  readonly timeoutMs: number;
}

/** `connections` workers, each sending its next request as soon as the previous answer is read. */
export async function closedLoop(spec: ClosedLoopSpec): Promise<LoadResult> {
  const p = makePool(spec.origin, spec.connections, spec.timeoutMs);
  const tally = new Tally();
  let started = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (started < spec.total) {
      started += 1;
      await one(p, spec.path, tally);
    }
  };
  try {
    await Promise.all(Array.from({ length: spec.connections }, worker));
  } finally {
    await p.close();
  }
  return { tally, elapsedMs: performance.now() - t0 };
}

export interface OpenLoopSpec {
  readonly origin: string;
  readonly path: string;
  readonly rps: number;
  readonly total: number;
  /** Upper bound of concurrent requests (undici queues beyond it); sized well above rps × latency. */
  readonly connections: number;
  readonly timeoutMs: number;
}

/** Sends request i at `start + i / rps` whatever the answers do, `total` requests in all. */
export async function openLoop(spec: OpenLoopSpec): Promise<LoadResult & { maxLagMs: number }> {
  const p = makePool(spec.origin, spec.connections, spec.timeoutMs);
  const tally = new Tally();
  const inFlight: Promise<void>[] = [];
  const t0 = performance.now();
  let maxLagMs = 0;
  try {
    for (let i = 0; i < spec.total;) {
      const now = performance.now();
      const due = Math.min(spec.total, Math.floor(((now - t0) * spec.rps) / 1000) + 1);
      maxLagMs = Math.max(maxLagMs, now - t0 - (i * 1000) / spec.rps);
      for (; i < due; i++) inFlight.push(one(p, spec.path, tally));
      if (i < spec.total) await new Promise((r) => setTimeout(r, Math.max(1, t0 + (i * 1000) / spec.rps - performance.now())));
    }
    await Promise.all(inFlight);
  } finally {
    await p.close();
  }
  return { tally, elapsedMs: performance.now() - t0, maxLagMs };
}

export interface H2Answer {
  readonly path: string;
  /** 0 when the stream failed before a status arrived. */
  readonly status: number;
  readonly body: string;
  readonly retryAfter: string | undefined;
  readonly error: string | null;
}

export interface H2Burst {
  readonly tally: Tally;
  /** Resolves when every stream has an answer (or an error), in the order of `paths`. */
  readonly done: Promise<H2Answer[]>;
}

export interface H2BurstSpec {
  readonly origin: string;
  readonly paths: readonly string[];
  readonly streamsPerConnection: number;
  readonly timeoutMs: number;
}

/** Opens every stream at once: `ceil(paths / streamsPerConnection)` h2c sessions. Closes them when done. */
export function h2Burst(spec: H2BurstSpec): H2Burst {
  const tally = new Tally();
  const sessions: ClientHttp2Session[] = [];
  const pending = spec.paths.map((path, i) => {
    if (i % spec.streamsPerConnection === 0) {
      const session = connect(spec.origin, { maxSessionMemory: 256, settings: { enablePush: false } });
      session.on('error', () => undefined); // surfaced per stream
      sessions.push(session);
    }
    const session = sessions[sessions.length - 1];
    if (session === undefined) throw new Error('no session');
    return stream(session, path, spec.timeoutMs, tally);
  });
  const done = Promise.all(pending).finally(() => {
    for (const session of sessions) session.close();
  });
  return { tally, done };
}

function stream(session: ClientHttp2Session, path: string, timeoutMs: number, tally: Tally): Promise<H2Answer> {
  return new Promise<H2Answer>((resolve) => {
    let status = 0;
    let retryAfter: string | undefined;
    let body = '';
    let settled = false;
    const finish = (error: string | null): void => {
      if (settled) return;
      settled = true;
      const answer = { path, status: error === null ? status : 0, body, retryAfter, error };
      tally.add(error === null ? status : 'error', error ?? body);
      resolve(answer);
    };
    const req = session.request({ [constants.HTTP2_HEADER_METHOD]: 'GET', [constants.HTTP2_HEADER_PATH]: path }, { endStream: true });
    req.setTimeout(timeoutMs, () => {
      finish(`timeout after ${timeoutMs} ms`);
      req.close(constants.NGHTTP2_CANCEL);
    });
    req.on('response', (headers) => {
      status = Number(headers[constants.HTTP2_HEADER_STATUS] ?? 0);
      const value = headers['retry-after'];
      retryAfter = Array.isArray(value) ? value.join(',') : value;
    });
    req.on('data', (chunk: Buffer) => {
      if (body.length < SAMPLE_CHARS) body += chunk.toString('utf8', 0, SAMPLE_CHARS - body.length);
    });
    req.on('end', () => finish(null));
    req.on('error', (err) => finish(describe(err)));
    req.on('close', () => finish(status === 0 ? `stream closed (code ${req.rstCode})` : null));
  });
}

/** `RESPONSE_CODE RESPONSE_CODE_DETAILS` of access-log lines whose code is not 2xx, counted: why Envoy answered what it did. */
export function nonOkDetails(accessLog: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of accessLog) {
    const m = /" (\d{3}) (\S+) /.exec(line);
    if (m === null || m[1]?.startsWith('2') === true) continue;
    const key = `${m[1] ?? ''} ${m[2] ?? ''}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

/** Envoy counters and gauges whose name matches `pattern` and whose value is not 0 (admin /stats). */
export async function envoyStats(adminPort: number, pattern: string): Promise<Record<string, number>> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/stats?usedonly&filter=${encodeURIComponent(pattern)}`);
  const out: Record<string, number> = {};
  for (const line of (await res.text()).split('\n')) {
    const m = /^([^:]+): (\d+)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined && m[2] !== '0') out[m[1]] = Number(m[2]);
  }
  return out;
}
