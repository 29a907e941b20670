/** What the demo prints: one measured request, and the curl commands to try. */
import { get, type IncomingHttpHeaders } from 'node:http';

export interface DemoAddresses {
  readonly envoy: number;
  readonly envoyAdmin: number;
  readonly grpc: number;
  readonly admin: number;
  readonly provider: number;
  /** The file holding the admin bearer token (POST /wake). */
  readonly adminTokenFile: string;
}

export interface Measurement {
  readonly url: string;
  readonly status: number;
  /** From sending the request to the last byte of the body. */
  readonly ms: number;
  /** The headers faas-waker added for the function, as the demo function echoes them back. */
  readonly coldStart: string | undefined;
  readonly waitMs: string | undefined;
  /** Response header Envoy adds from faas-waker's metadata on a cold start (envoy/envoy.yaml). */
  readonly clientColdStartMs: string | undefined;
  /** The body when it is not the demo function's JSON echo (e.g. faas-waker's own error text). */
  readonly otherBody: string | undefined;
}

interface EchoBody {
  readonly headers?: Record<string, string | undefined>;
}

/** One GET through Envoy on a fresh connection, timed to the end of the body. */
export async function measure(url: string): Promise<Measurement> {
  const started = performance.now();
  const { status, text, headers: responseHeaders } = await getText(url);
  const ms = performance.now() - started;
  let echo: EchoBody | undefined;
  try {
    echo = JSON.parse(text) as EchoBody;
  } catch {
    echo = undefined;
  }
  const headers = echo?.headers;
  return {
    url,
    status,
    ms,
    coldStart: headers?.['x-faas-waker-cold-start'],
    waitMs: headers?.['x-faas-waker-wait-ms'],
    clientColdStartMs: firstValue(responseHeaders['x-faas-waker-cold-start-ms']),
    otherBody: headers === undefined ? text.trim().slice(0, 200) : undefined,
  };
}

function firstValue(value: string | string[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first === '' ? undefined : first;
}

function getText(url: string): Promise<{ status: number; text: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false, timeout: 90_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within 90 s`)));
    req.on('error', reject);
  });
}

export function formatMeasurement(kind: 'cold' | 'warm', m: Measurement): string {
  const head = `  ${kind.padEnd(5)} GET ${m.url}  ->  ${m.status} in ${m.ms.toFixed(m.ms < 100 ? 1 : 0)} ms`;
  if (m.otherBody !== undefined) return `${head}\n        body: ${JSON.stringify(m.otherBody)}`;
  if (m.waitMs === undefined) {
    return `${head}\n        no x-faas-waker-* headers: faas-waker found hello in its readiness cache and answered CONTINUE at once`;
  }
  const overhead = m.ms - Number(m.waitMs);
  const why = m.coldStart === 'true' ? 'while the function started' : 'while faas-waker asked the provider (the function was already up)';
  return (
    `${head}\n        the function saw x-faas-waker-cold-start: ${m.coldStart ?? '(none)'}, x-faas-waker-wait-ms: ${m.waitMs}` +
    ` (held ${m.waitMs} ms ${why}; ${overhead.toFixed(0)} ms for everything else)` +
    (m.clientColdStartMs === undefined
      ? ''
      : `\n        and the client got x-faas-waker-cold-start-ms: ${m.clientColdStartMs} (Envoy adds it from faas-waker's metadata)`)
  );
}

/** Copy-paste lines for the running demo; the function answers with a JSON echo of what it received. */
export function curlCommands(at: DemoAddresses): string {
  const envoy = `http://127.0.0.1:${at.envoy}`;
  const time = `-w '\\n%{http_code} in %{time_total}s\\n'`;
  const groups: [string, ...string[]][] = [
    [
      'cold start: slow takes ~3 s to start; Envoy holds the request meanwhile (see x-faas-waker-* in the echoed headers)',
      `curl -s ${time} ${envoy}/function/slow`,
    ],
    [
      'warm, twice: after 2 s without traffic (WAKER_READY_TTL) the 1st asks the provider once (x-faas-waker-cold-start: false);\n' +
        '  # the 2nd is a readiness-cache hit: faas-waker answers CONTINUE at once and adds no x-faas-waker-* headers',
      `curl -s ${time} ${envoy}/function/hello; curl -s ${time} ${envoy}/function/hello`,
    ],
    ['a namespace: report lives in "staging", addressed as NAME.NAMESPACE', `curl -s ${time} ${envoy}/function/report.staging`],
    ['unknown function: 404 from faas-waker (there is no report in the default namespace openfaas-fn)', `curl -i ${envoy}/function/report`],
    ['invalid name (upper case): 400, never reaches the provider', `curl -i ${envoy}/function/Hello`],
    [
      'put hello back to sleep (local provider hook), wait 2 s for the readiness cache to expire, then cold again',
      `curl -s -X POST http://127.0.0.1:${at.provider}/_/scale-to-zero/hello; sleep 2; curl -s ${time} ${envoy}/function/hello`,
    ],
    [
      'faas-waker admin: held requests, wakes in progress, cache sizes; liveness and readiness',
      `curl -s http://127.0.0.1:${at.admin}/status`,
      `curl -s http://127.0.0.1:${at.admin}/healthz`,
      `curl -s http://127.0.0.1:${at.admin}/readyz`,
    ],
    ["faas-waker's Prometheus metrics", `curl -s http://127.0.0.1:${at.admin}/metrics | grep '^faas_waker_'`],
    [
      'pre-warm: put slow to sleep, then wake it through faas-waker ahead of any request (answers when it is ready)',
      `curl -s -X POST http://127.0.0.1:${at.provider}/_/scale-to-zero/slow; curl -s -X POST -H "authorization: Bearer $(cat ${at.adminTokenFile})" http://127.0.0.1:${at.admin}/wake/slow`,
    ],
    ["Envoy's ext_proc filter stats (stat_prefix faas_waker)", `curl -s 127.0.0.1:${at.envoyAdmin}/stats | grep ext_proc`],
    ["the local provider's call counters (status and scale calls per function)", `curl -s http://127.0.0.1:${at.provider}/_/stats`],
  ];
  return groups.map(([comment, ...commands]) => [`  # ${comment}`, ...commands.map((c) => `  ${c}`)].join('\n')).join('\n\n');
}
