/** Client side of the cold scenarios: every request sent at once, first byte timed per request. */
import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { performance } from 'node:perf_hooks';
import { Client } from 'undici';
import type { BurstRequest, BurstResult, BurstSpec } from './loadgen-types';

/** Epoch ms with sub-ms precision: comparable with the local provider's `readyAtMs`. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

const DETAIL_CHARS = 120;

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

export async function runBurst(spec: BurstSpec, onMeasuring: () => void): Promise<BurstResult> {
  const cpuAtStart = process.cpuUsage();
  onMeasuring();
  const requests = spec.protocol === 'h1' ? await burstH1(spec) : await burstH2(spec);
  const cpu = process.cpuUsage(cpuAtStart);
  return { mode: 'burst', requests, cpuMs: (cpu.user + cpu.system) / 1000 };
}

/** One connection per request, as N independent clients would do (Envoy needs one HTTP/1.1 connection per concurrent request). */
async function burstH1(spec: BurstSpec): Promise<BurstRequest[]> {
  const one = async (path: string): Promise<BurstRequest> => {
    const client = new Client(spec.origin, {
      headersTimeout: spec.timeoutMs,
      bodyTimeout: spec.timeoutMs,
      connectTimeout: spec.timeoutMs,
      pipelining: 1,
    });
    const sentAtMs = epochMs();
    let firstByteAtMs: number | null = null;
    try {
      const res = await client.request({ path, method: 'GET' });
      firstByteAtMs = epochMs();
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      const detail = ok ? null : (await res.body.text()).slice(0, DETAIL_CHARS);
      if (ok) await res.body.dump({ limit: 1 << 20 });
      return { path, status: res.statusCode, sentAtMs, firstByteAtMs, doneAtMs: epochMs(), error: null, detail };
    } catch (err) {
      return { path, status: 0, sentAtMs, firstByteAtMs, doneAtMs: null, error: describe(err), detail: null };
    } finally {
      await client.close().catch(() => undefined);
    }
  };
  return Promise.all(spec.paths.map(one));
}

/** h2c with prior knowledge: `streamsPerConnection` concurrent streams per session, like a front proxy. */
async function burstH2(spec: BurstSpec): Promise<BurstRequest[]> {
  const sessions: ClientHttp2Session[] = [];
  const pending: Promise<BurstRequest>[] = [];
  try {
    spec.paths.forEach((path, i) => {
      if (i % spec.streamsPerConnection === 0) {
        const session = connect(spec.origin, { maxSessionMemory: 256, settings: { enablePush: false } });
        session.on('error', () => undefined); // surfaced per stream
        sessions.push(session);
      }
      const session = sessions[sessions.length - 1];
      if (session === undefined) throw new Error('no session');
      pending.push(streamRequest(session, path, spec.timeoutMs));
    });
    return await Promise.all(pending);
  } finally {
    for (const session of sessions) session.close();
  }
}

function streamRequest(session: ClientHttp2Session, path: string, timeoutMs: number): Promise<BurstRequest> {
  return new Promise<BurstRequest>((resolve) => {
    const sentAtMs = epochMs();
    let status = 0;
    let firstByteAtMs: number | null = null;
    let settled = false;
    let detail = '';
    const finish = (error: string | null): void => {
      if (settled) return;
      settled = true;
      const ok = status >= 200 && status < 300;
      resolve({
        path,
        status: error === null ? status : 0,
        sentAtMs,
        firstByteAtMs,
        doneAtMs: error === null ? epochMs() : null,
        error,
        detail: ok || error !== null ? null : detail,
      });
    };
    const stream = session.request({ [constants.HTTP2_HEADER_METHOD]: 'GET', [constants.HTTP2_HEADER_PATH]: path }, { endStream: true });
    stream.setTimeout(timeoutMs, () => {
      finish(`timeout after ${timeoutMs} ms`);
      stream.close(constants.NGHTTP2_CANCEL);
    });
    stream.on('response', (headers) => {
      firstByteAtMs = epochMs();
      status = Number(headers[constants.HTTP2_HEADER_STATUS] ?? 0);
    });
    stream.on('data', (chunk: Buffer) => {
      if (status >= 300 && detail.length < DETAIL_CHARS) detail += chunk.toString('utf8', 0, DETAIL_CHARS - detail.length);
    });
    stream.on('end', () => finish(null));
    stream.on('error', (err) => finish(describe(err)));
    stream.on('close', () => finish(firstByteAtMs === null ? `stream closed (code ${stream.rstCode})` : null));
  });
}
