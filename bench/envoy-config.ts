/** Changes the benchmark makes to the shipped envoy/envoy.yaml (through startEnvoy's `patch`). */
import { spawnSync } from 'node:child_process';
import { envoyBinary } from '../dev/stack/repo';

type Yaml = Record<string, unknown>;

export const EXT_PROC_FILTER = 'envoy.filters.http.ext_proc';

interface HttpConnectionManager {
  http_filters: { name: string }[];
  access_log?: Yaml[];
}

function connectionManager(bootstrap: Yaml): HttpConnectionManager {
  const resources = bootstrap.static_resources as { listeners: { name: string; filter_chains: { filters: { typed_config: Yaml }[] }[] }[] };
  const ingress = resources.listeners.find((l) => l.name === 'ingress');
  const hcm = ingress?.filter_chains[0]?.filters[0]?.typed_config as HttpConnectionManager | undefined;
  if (hcm === undefined || !Array.isArray(hcm.http_filters))
    throw new Error('envoy.yaml: listener "ingress" has no HTTP connection manager');
  return hcm;
}

/**
 * Keeps the shipped access log (same format, so Envoy still formats every line) but writes it to
 * /dev/null: read through our stdout pipe it would cost the benchmark process CPU on every request.
 */
export function accessLogToDevNull(bootstrap: Yaml): void {
  const hcm = connectionManager(bootstrap);
  hcm.access_log = (hcm.access_log ?? []).map((log) => {
    const config = log.typed_config as { log_format?: unknown } | undefined;
    return {
      name: 'envoy.access_loggers.file',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
        path: '/dev/null',
        ...(config?.log_format === undefined ? {} : { log_format: config.log_format }),
      },
    };
  });
}

/**
 * Replaces the access log with one file logger writing `format` (one line per request) to `path`: for a
 * scenario that reads per-request timings back from Envoy (bench/kube.ts). Envoy flushes it every
 * 100 ms (dev/stack/envoy.ts passes --file-flush-interval-msec 100).
 */
export function accessLogToFile(bootstrap: Yaml, path: string, format: string): void {
  const hcm = connectionManager(bootstrap);
  hcm.access_log = [
    {
      name: 'envoy.access_loggers.file',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
        path,
        log_format: { text_format_source: { inline_string: format } },
      },
    },
  ];
}

/** The baseline: the same config with the ext_proc filter taken out of the filter chain. */
export function withoutExtProc(bootstrap: Yaml): void {
  const hcm = connectionManager(bootstrap);
  const before = hcm.http_filters.length;
  hcm.http_filters = hcm.http_filters.filter((f) => f.name !== EXT_PROC_FILTER);
  if (hcm.http_filters.length !== before - 1) throw new Error(`envoy.yaml: expected one ${EXT_PROC_FILTER} filter`);
}

/** `envoy --version` → "1.40.0" (or the raw text if the format is unexpected). */
export function envoyVersion(): { version: string; raw: string } {
  const out = spawnSync(envoyBinary(), ['--version'], { encoding: 'utf8', timeout: 30_000 });
  const raw = `${out.stdout}${out.stderr}`.trim();
  const match = /version: [0-9a-f]+\/(\d+\.\d+\.\d+[^/\s]*)\//.exec(raw);
  return { version: match?.[1] ?? raw, raw };
}

/** Counters and gauges from Envoy's admin /stats whose names match `filter` (a regex, as Envoy's admin takes it). */
export async function envoyStats(adminPort: number, filter: string): Promise<Record<string, number>> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/stats?format=json&filter=${encodeURIComponent(filter)}`, {
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json()) as { stats?: { name?: string; value?: number }[] };
  const out: Record<string, number> = {};
  for (const s of body.stats ?? []) if (typeof s.name === 'string' && typeof s.value === 'number') out[s.name] = s.value;
  return out;
}

/** What explains failed or slow cold requests: retries, overflows and connect failures towards the provider, ext_proc failures. */
export const COLD_PATH_STATS =
  '^cluster\\.function_gateway\\.(upstream_rq_(pending_overflow|retry|retry_success|retry_overflow|retry_limit_exceeded|5xx|503|timeout|total)|upstream_cx_(connect_fail|overflow|total|destroy_remote_with_active_rq))$|ext_proc\\.faas_waker\\.(streams_started|streams_failed|message_timeouts|immediate_responses_sent|override_message_timeout_received)$';
