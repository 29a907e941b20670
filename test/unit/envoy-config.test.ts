/**
 * Guards the Envoy settings faas-waker depends on (DESIGN §2) in the configs we ship, so that nobody
 * weakens them by accident. Parses the YAML only: `npm run envoy:validate` checks them with real Envoy.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig, OVERRIDE_MARGIN_MS, type Config } from '../../src/config/load';
import { list, obj, type Obj } from '../support/yaml-access';

const repoRoot = join(__dirname, '..', '..');
const ENVOY_DIR = join(repoRoot, 'envoy');
const BOOTSTRAPS = ['envoy.yaml', 'envoy-compose.yaml'] as const;

const EXT_PROC_FILTER = 'envoy.filters.http.ext_proc';
const ROUTER_FILTER = 'envoy.filters.http.router';
const HCM_FILTER = 'envoy.filters.network.http_connection_manager';
const EXT_PROC_PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute';
const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** faas-waker's default hold (60s) is below this; every "longer than the longest hold" check uses it. */
const LONGEST_HOLD_MS = 120_000;
/** A stalled faas-waker costs every new request this long before Envoy's 504: keep the first-answer wait short. */
const FIRST_ANSWER_BUDGET_MS = 15_000;
const MIN_EXT_PROC_STREAMS = 100_000;
/** Warm requests in flight alongside a full hold table. */
const WARM_HEADROOM = 10_000;
/** The router's retry_on conditions in Envoy 1.40 (reset-before-request since 1.31). `envoy --mode validate`
 * accepts any string there and Envoy ignores an unknown token, so a typo would silently drop a retry. */
const ENVOY_RETRY_ON = new Set([
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'envoy-ratelimited',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'retriable-headers',
  'http3-post-connect-failure',
]);

/** faas-waker's defaults, read through its own config loader (src/config/settings.ts). */
function wakerDefaults(): Config {
  const parsed = loadConfig({ env: { WAKER_PROVIDER_URL: 'http://gateway:8080' }, argv: [] });
  if (parsed.kind !== 'run') throw new Error('expected a config');
  return parsed.config;
}

/** Follows mapping keys (a dotted path, or a list when keys contain dots), failing with the path if one is missing. */
function at(v: unknown, path: string | readonly string[]): unknown {
  const keys = typeof path === 'string' ? path.split('.') : path;
  let cur = v;
  for (const key of keys) cur = obj(cur, keys.join(' > '))[key];
  return cur;
}

function named(items: unknown, name: string, what: string): Obj {
  const found = list(items, what)
    .map((x) => obj(x, what))
    .find((x) => x['name'] === name);
  if (found === undefined) throw new Error(`${what}: no entry named ${name}`);
  return found;
}

/** Envoy's JSON Duration strings as YAML holds them: "2s", "0.25s". */
function durationMs(v: unknown, what: string): number {
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)s$/.exec(v) : null;
  if (m === null) throw new Error(`${what}: expected a duration like "2s", got ${JSON.stringify(v)}`);
  return Number(m[1]) * 1000;
}

function loadYaml(file: string): unknown {
  return parse(readFileSync(join(ENVOY_DIR, file), 'utf8')) as unknown;
}

interface Parts {
  bootstrap: Obj;
  listener: Obj;
  hcm: Obj;
  filters: Obj[];
  extProc: Obj;
  routes: Obj[];
  clusters: Obj[];
}

function parts(file: string): Parts {
  const bootstrap = obj(loadYaml(file), file);
  const listener = named(at(bootstrap, 'static_resources.listeners'), 'ingress', 'listeners');
  const chains = list(listener['filter_chains'], 'filter_chains');
  expect(chains).toHaveLength(1);
  const hcm = obj(at(named(at(chains[0], 'filters'), HCM_FILTER, 'network filters'), 'typed_config'), 'hcm');
  const filters = list(hcm['http_filters'], 'http_filters').map((f) => obj(f, 'http filter'));
  const extProc = obj(at(named(filters, EXT_PROC_FILTER, 'http_filters'), 'typed_config'), 'ext_proc');
  const hosts = list(at(hcm, 'route_config.virtual_hosts'), 'virtual_hosts');
  const routes = hosts.flatMap((h) => list(at(h, 'routes'), 'routes').map((r) => obj(r, 'route')));
  const clusters = list(at(bootstrap, 'static_resources.clusters'), 'clusters').map((c) => obj(c, 'cluster'));
  return { bootstrap, listener, hcm, filters, extProc, routes, clusters };
}

function endpointAddress(cluster: Obj): Obj {
  const endpoints = list(at(cluster, 'load_assignment.endpoints'), 'endpoints');
  const lb = list(at(endpoints[0], 'lb_endpoints'), 'lb_endpoints');
  return obj(at(lb[0], 'endpoint.address.socket_address'), 'socket_address');
}

describe.each(BOOTSTRAPS)('%s', (file) => {
  const p = parts(file);

  it('fails closed and answers 503 when faas-waker errors', () => {
    expect(p.extProc['failure_mode_allow']).toBe(false);
    expect(at(p.extProc, 'status_on_error.code')).toBe('ServiceUnavailable');
    expect(p.extProc['disable_immediate_response']).toBeUndefined();
  });

  it('removes every client-sent x-faas-waker-* request header before ext_proc', () => {
    const names = p.filters.map((f) => f['name']);
    const mutation = names.indexOf('envoy.filters.http.header_mutation');
    expect(mutation).toBeGreaterThanOrEqual(0);
    expect(mutation).toBeLessThan(names.indexOf(EXT_PROC_FILTER));
    expect(at(p.filters[mutation], 'typed_config.mutations.request_mutations')).toEqual([
      { remove_on_match: { key_matcher: { prefix: 'x-faas-waker-' } } },
    ]);
  });

  it('sends request headers only', () => {
    expect(p.extProc['processing_mode']).toEqual({
      request_header_mode: 'SEND',
      response_header_mode: 'SKIP',
      request_body_mode: 'NONE',
      response_body_mode: 'NONE',
      request_trailer_mode: 'SKIP',
      response_trailer_mode: 'SKIP',
    });
    expect(p.extProc['observability_mode']).toBeUndefined();
  });

  it('lets faas-waker switch on the end-of-request signal, and nothing else', () => {
    // Envoy compares the effective override (unset header/trailer modes filled from processing_mode) with
    // each entry, request_header_mode aside; any difference and it ignores the override without a word.
    // test/e2e/envoy-mode-override.test.ts proves faas-waker's real bytes match with the real Envoy.
    expect(p.extProc['allow_mode_override']).toBe(true);
    expect(p.extProc['allowed_override_modes']).toEqual([
      {
        request_header_mode: 'SEND',
        response_header_mode: 'SKIP',
        request_body_mode: 'NONE',
        response_body_mode: 'NONE',
        request_trailer_mode: 'SKIP',
        response_trailer_mode: 'SEND',
      },
    ]);
  });

  it('upgrades WebSocket requests (after ext_proc held them like any request)', () => {
    expect(p.hcm['upgrade_configs']).toEqual([{ upgrade_type: 'websocket' }]);
  });

  it('bounds the wait for the first answer and lets a hold extend the message timer', () => {
    expect(durationMs(p.extProc['message_timeout'], 'message_timeout')).toBeLessThanOrEqual(FIRST_ANSWER_BUDGET_MS);
    expect(durationMs(p.extProc['max_message_timeout'], 'max_message_timeout')).toBeGreaterThanOrEqual(LONGEST_HOLD_MS);
  });

  it('keeps idle timers longer than the longest hold', () => {
    expect(durationMs(p.hcm['stream_idle_timeout'], 'stream_idle_timeout')).toBeGreaterThan(LONGEST_HOLD_MS);
    const forwarding = p.routes.filter((x) => x['route'] !== undefined);
    expect(forwarding.length).toBeGreaterThan(0);
    const tooShort = forwarding.filter(
      (r) => !(durationMs(at(r, 'route.idle_timeout'), `${String(r['name'])}.idle_timeout`) > LONGEST_HOLD_MS),
    );
    expect(tooShort.map((r) => r['name'])).toEqual([]);
    expect(p.hcm['request_timeout']).toBeUndefined();
    expect(p.hcm['max_stream_duration']).toBeUndefined();
  });

  it('talks to the faas_waker cluster over HTTP/2 with room for every held request', () => {
    expect(at(p.extProc, 'grpc_service.envoy_grpc.cluster_name')).toBe('faas_waker');
    const cluster = named(p.clusters, 'faas_waker', 'clusters');
    const http = ['typed_extension_protocol_options', HTTP_OPTIONS, 'explicit_http_config', 'http2_protocol_options'];
    expect(at(cluster, http)).toBeDefined();
    const thresholds = list(at(cluster, 'circuit_breakers.thresholds'), 'thresholds').map((t) => obj(t, 'threshold'));
    const dflt = thresholds.find((t) => t['priority'] === undefined || t['priority'] === 'DEFAULT');
    expect(dflt).toBeDefined();
    expect(dflt?.['max_requests']).toBeGreaterThanOrEqual(MIN_EXT_PROC_STREAMS);
    expect(dflt?.['max_pending_requests']).toBeGreaterThanOrEqual(MIN_EXT_PROC_STREAMS);
  });

  it('accepts faas-waker metadata and forwards only the headers it reads', () => {
    expect(at(p.extProc, 'metadata_options.receiving_namespaces.untyped')).toEqual(['faas_waker']);
    const patterns = list(at(p.extProc, 'forward_rules.allowed_headers.patterns'), 'patterns');
    expect(patterns.map((x) => at(x, 'exact')).sort()).toEqual([
      ':authority',
      ':method',
      ':path',
      'accept', // the next four tell a browser (waiting page) from an XHR, fetch() or WebSocket (held)
      'sec-fetch-mode',
      'upgrade',
      'x-request-id',
      'x-requested-with',
    ]);
    expect(p.hcm['generate_request_id']).toBe(true);
    expect(p.extProc['stat_prefix']).toBe('faas_waker');
  });

  it('runs ext_proc before the router, and the router last', () => {
    const names = p.filters.map((f) => f['name']);
    expect(names.indexOf(EXT_PROC_FILTER)).toBeGreaterThanOrEqual(0);
    expect(names.indexOf(EXT_PROC_FILTER)).toBeLessThan(names.indexOf(ROUTER_FILTER));
    expect(names[names.length - 1]).toBe(ROUTER_FILTER);
  });

  it('replays only idempotent function requests; the rest only when Envoy knows the function never saw them', () => {
    const clusterNames = p.clusters.map((c) => c['name']);
    for (const r of p.routes.filter((x) => x['route'] !== undefined)) {
      expect(clusterNames).toContain(at(r, 'route.cluster'));
    }
    const retryOn = (r: Obj): string[] => String(at(r, 'route.retry_policy.retry_on')).split(',').sort();
    const methods = (r: Obj): unknown => list(at(r, 'match.headers'), 'headers').map((h) => obj(h, 'header'));
    const neverDelivered = ['connect-failure', 'refused-stream', 'reset-before-request'];
    for (const [base, prefix] of [
      ['function', '/function/'],
      ['async_function', '/async-function/'],
    ] as const) {
      const idempotent = named(p.routes, `${base}_idempotent`, 'routes');
      const rest = named(p.routes, base, 'routes');
      // The method-matched route comes first, so only what it does not match falls through to the rest.
      expect(p.routes.indexOf(idempotent)).toBeLessThan(p.routes.indexOf(rest));
      expect(at(idempotent, 'match.prefix')).toBe(prefix);
      expect(methods(idempotent)).toEqual([
        { name: ':method', string_match: { safe_regex: { regex: 'GET|HEAD|OPTIONS|TRACE|PUT|DELETE' } } },
      ]);
      expect(retryOn(idempotent)).toEqual(['connect-failure', 'refused-stream', 'reset', 'retriable-status-codes']);
      expect(at(idempotent, 'route.retry_policy.retriable_status_codes')).toEqual([503]);
      expect(at(rest, 'match')).toEqual({ prefix });
      expect(retryOn(rest)).toEqual(neverDelivered);
      expect(at(rest, 'route.retry_policy.retriable_status_codes')).toBeUndefined();
      for (const r of [idempotent, rest]) {
        expect(at(r, 'route.cluster')).toBe('function_gateway');
        expect(at(r, 'route.retry_policy.num_retries')).toBeGreaterThan(0);
      }
    }
    const grpc = named(p.routes, 'function_grpc', 'routes');
    expect(p.routes.indexOf(grpc)).toBeLessThan(p.routes.indexOf(named(p.routes, 'function_idempotent', 'routes')));
    expect(retryOn(grpc)).toEqual(neverDelivered);
    for (const name of ['function_gateway', 'function_grpc']) {
      expect(num(defaultThreshold(named(p.clusters, name, 'clusters')), 'max_retries')).toBeGreaterThan(3);
    }
  });

  it('names only retry conditions Envoy knows (it ignores an unknown or misspelt one without a word)', () => {
    const used = p.routes.flatMap((r) => {
      const retryOn = obj(r['route'] ?? {}, 'route')['retry_policy'];
      return retryOn === undefined ? [] : String(at(retryOn, 'retry_on')).split(',');
    });
    expect(used.length).toBeGreaterThan(0);
    expect(used.filter((t) => !ENVOY_RETRY_ON.has(t))).toEqual([]);
  });

  it('sends gRPC function calls over HTTP/2 to the same address as function_gateway, everything else over HTTP/1.1', () => {
    const grpc = named(p.routes, 'function_grpc', 'routes');
    expect(at(grpc, 'match')).toEqual({
      prefix: '/function/',
      headers: [{ name: 'content-type', string_match: { prefix: 'application/grpc' } }],
    });
    expect(at(grpc, 'route.cluster')).toBe('function_grpc');
    const h2 = named(p.clusters, 'function_grpc', 'clusters');
    expect(at(h2, ['typed_extension_protocol_options', HTTP_OPTIONS, 'explicit_http_config', 'http2_protocol_options'])).toBeDefined();
    const gateway = named(p.clusters, 'function_gateway', 'clusters');
    expect(gateway['typed_extension_protocol_options']).toBeUndefined(); // the OpenFaaS gateway speaks HTTP/1.1 only
    expect(endpointAddress(h2)).toEqual(endpointAddress(gateway));
  });

  it('serves /healthz without faas-waker and passes everything else through', () => {
    const health = named(p.routes, 'healthz', 'routes');
    const perRoute = obj(at(health, ['typed_per_filter_config', EXT_PROC_FILTER]), 'per-route');
    expect(perRoute['@type']).toBe(EXT_PROC_PER_ROUTE);
    expect(perRoute['disabled']).toBe(true);
    const last = p.routes[p.routes.length - 1];
    expect(at(last, 'match.prefix')).toBe('/');
  });

  it('asks for the graceful gRPC close and logs ext_proc details', () => {
    const layers = list(at(p.bootstrap, 'layered_runtime.layers'), 'layers').map((l) => obj(l, 'layer'));
    const staticLayer = obj(layers.find((l) => l['static_layer'] !== undefined)?.['static_layer'], 'static_layer');
    expect(staticLayer['envoy.reloadable_features.ext_proc_graceful_grpc_close']).toBe(true);
    const format = String(at(list(p.hcm['access_log'], 'access_log')[0], 'typed_config.log_format.text_format_source.inline_string'));
    for (const op of [
      '%RESPONSE_CODE_DETAILS%',
      '%DURATION%',
      '%DYNAMIC_METADATA(faas_waker)%',
      '%FILTER_STATE(envoy.filters.http.ext_proc:PLAIN)%',
    ]) {
      expect(format).toContain(op);
    }
  });

  it('keeps the names and plain numeric ports a test launcher patches', () => {
    expect(typeof at(p.bootstrap, 'admin.address.socket_address.port_value')).toBe('number');
    expect(typeof at(p.listener, 'address.socket_address.port_value')).toBe('number');
    for (const name of ['faas_waker', 'function_gateway', 'function_grpc']) {
      expect(typeof endpointAddress(named(p.clusters, name, 'clusters'))['port_value']).toBe('number');
    }
  });
});

/** Number at a path, failing if it is not one. */
function num(v: unknown, path: string | readonly string[]): number {
  const value = at(v, path);
  if (typeof value !== 'number') throw new Error(`${String(path)}: expected a number, got ${JSON.stringify(value)}`);
  return value;
}

function defaultThreshold(cluster: Obj): Obj {
  const thresholds = list(at(cluster, 'circuit_breakers.thresholds'), 'thresholds').map((t) => obj(t, 'threshold'));
  const found = thresholds.find((t) => t['priority'] === undefined || t['priority'] === 'DEFAULT');
  if (found === undefined) throw new Error(`${String(cluster['name'])}: no DEFAULT circuit breaker threshold`);
  return found;
}

/**
 * The rule (README, "Envoy settings that matter"): every Envoy limit leaves room for faas-waker's own.
 * All WAKER_MAX_HELD_TOTAL requests can be held at once (one ext_proc stream and, for HTTP/1, one
 * downstream connection each) and released at the same moment (one gateway request, maybe one retry
 * each), so every count limit on that path is >= WAKER_MAX_HELD_TOTAL (+ warm headroom where warm
 * traffic shares it); every timer that runs during a hold outlasts WAKER_HOLD_TIMEOUT.
 */
describe.each(BOOTSTRAPS)('%s keeps Envoy limits above faas-waker defaults', (file) => {
  const p = parts(file);
  const waker = wakerDefaults();
  const heldTotal = waker.maxHeldTotal;
  const faasWaker = named(p.clusters, 'faas_waker', 'clusters');
  const upstreamH2 = obj(
    at(faasWaker, ['typed_extension_protocol_options', HTTP_OPTIONS, 'explicit_http_config', 'http2_protocol_options']),
    'faas_waker http2',
  );

  it('reads the defaults the rule is about', () => {
    expect({ heldTotal, perFunction: waker.maxHeldPerFunction, holdMs: waker.holdTimeoutMs }).toEqual({
      heldTotal: 20_000,
      perFunction: 1_000,
      holdMs: 60_000,
    });
    expect(waker.maxHeldPerFunction).toBeLessThanOrEqual(heldTotal);
  });

  it('faas_waker: room for every held stream plus warm traffic, on enough connections', () => {
    const t = defaultThreshold(faasWaker);
    expect(num(t, 'max_requests')).toBeGreaterThanOrEqual(heldTotal + WARM_HEADROOM);
    expect(num(t, 'max_pending_requests')).toBeGreaterThanOrEqual(heldTotal + WARM_HEADROOM);
    expect(num(t, 'max_connections') * num(upstreamH2, 'max_concurrent_streams')).toBeGreaterThanOrEqual(num(t, 'max_requests'));
  });

  it('faas_waker: the HTTP/2 flood limits let a whole release queue up (trusted peer)', () => {
    expect(num(upstreamH2, 'max_outbound_control_frames')).toBeGreaterThanOrEqual(heldTotal);
    expect(num(upstreamH2, 'max_outbound_frames')).toBeGreaterThanOrEqual(heldTotal);
    const keepalive = obj(upstreamH2['connection_keepalive'], 'connection_keepalive');
    // A dead connection is noticed within one hold, and a PING ack stuck behind a burst is not taken for one.
    expect(durationMs(keepalive['interval'], 'interval') + durationMs(keepalive['timeout'], 'timeout')).toBeLessThan(waker.holdTimeoutMs);
    expect(durationMs(keepalive['timeout'], 'timeout')).toBeGreaterThanOrEqual(durationMs(p.extProc['message_timeout'], 'message_timeout'));
  });

  it.each(['function_gateway', 'function_grpc'])('%s: a full release (and one retry each) fits without overflow', (name) => {
    const t = defaultThreshold(named(p.clusters, name, 'clusters'));
    expect(num(t, 'max_requests')).toBeGreaterThanOrEqual(heldTotal + WARM_HEADROOM);
    expect(num(t, 'max_pending_requests')).toBeGreaterThanOrEqual(heldTotal + WARM_HEADROOM);
    expect(num(t, 'max_retries')).toBeGreaterThanOrEqual(heldTotal);
    expect(num(t, 'max_connections')).toBeGreaterThan(0);
  });

  it('function_grpc: its connections carry a full release', () => {
    const grpc = named(p.clusters, 'function_grpc', 'clusters');
    const h2 = obj(at(grpc, ['typed_extension_protocol_options', HTTP_OPTIONS, 'explicit_http_config', 'http2_protocol_options']), 'h2');
    const t = defaultThreshold(grpc);
    expect(num(t, 'max_connections') * num(h2, 'max_concurrent_streams')).toBeGreaterThanOrEqual(num(t, 'max_requests'));
  });

  it('downstream: the connection cap holds every request on its own HTTP/1 connection, and h2 flood limits fit the stream cap', () => {
    const monitors = list(at(p.bootstrap, 'overload_manager.resource_monitors'), 'resource_monitors');
    const cap = num(
      named(monitors, 'envoy.resource_monitors.global_downstream_max_connections', 'resource_monitors'),
      'typed_config.max_active_downstream_connections',
    );
    expect(cap).toBeGreaterThanOrEqual(heldTotal + WARM_HEADROOM);
    expect(num(p.listener, 'tcp_backlog_size')).toBeGreaterThanOrEqual(4096);
    const h2 = obj(p.hcm['http2_protocol_options'], 'hcm http2_protocol_options');
    const streams = num(h2, 'max_concurrent_streams');
    expect(num(h2, 'max_outbound_control_frames')).toBeGreaterThan(streams); // one RST_STREAM per stream, plus PING/SETTINGS acks
    expect(num(h2, 'max_outbound_frames')).toBeGreaterThanOrEqual(3 * streams); // HEADERS, DATA, RST_STREAM per stream
  });

  it('timers: a hold fits in max_message_timeout, idle timers outlast it, a slow connect stays a 503', () => {
    const maxMessageMs = durationMs(p.extProc['max_message_timeout'], 'max_message_timeout');
    expect(maxMessageMs).toBeGreaterThanOrEqual(waker.holdTimeoutMs + OVERRIDE_MARGIN_MS);
    expect(maxMessageMs).toBe(waker.envoyMaxMessageTimeoutMs); // faas-waker's WAKER_ENVOY_MAX_MESSAGE_TIMEOUT default describes this file
    expect(durationMs(p.hcm['stream_idle_timeout'], 'stream_idle_timeout')).toBeGreaterThan(maxMessageMs);
    for (const r of p.routes.filter((x) => x['route'] !== undefined)) {
      expect(durationMs(at(r, 'route.idle_timeout'), 'idle_timeout')).toBeGreaterThan(maxMessageMs);
    }
    // connect failure -> status_on_error (503) before the message timer's 504
    expect(durationMs(faasWaker['connect_timeout'], 'connect_timeout')).toBeLessThan(
      durationMs(p.extProc['message_timeout'], 'message_timeout'),
    );
  });
});

describe('envoy.yaml (tests and demo)', () => {
  const p = parts('envoy.yaml');

  it('binds loopback only, on the documented default ports', () => {
    expect(at(p.bootstrap, 'admin.address.socket_address')).toEqual({ address: '127.0.0.1', port_value: 9901 });
    expect(at(p.listener, 'address.socket_address')).toEqual({ address: '127.0.0.1', port_value: 10000 });
    expect(endpointAddress(named(p.clusters, 'faas_waker', 'clusters'))).toEqual({ address: '127.0.0.1', port_value: 50051 });
    expect(endpointAddress(named(p.clusters, 'function_gateway', 'clusters'))).toEqual({ address: '127.0.0.1', port_value: 8080 });
    expect(endpointAddress(named(p.clusters, 'function_grpc', 'clusters'))).toEqual({ address: '127.0.0.1', port_value: 8080 });
  });
});

describe('envoy-compose.yaml', () => {
  /** The compose variant may differ from envoy.yaml only in addresses and how clusters resolve them. */
  function normalised(file: string): unknown {
    const p = parts(file);
    obj(at(p.bootstrap, 'admin.address.socket_address'), 'admin')['address'] = 'ADDR';
    obj(at(p.listener, 'address.socket_address'), 'listener')['address'] = 'ADDR';
    for (const c of p.clusters) {
      endpointAddress(c)['address'] = 'ADDR';
      c['type'] = 'TYPE';
      delete c['dns_lookup_family'];
    }
    return p.bootstrap;
  }

  it('has the same settings as envoy.yaml apart from addresses', () => {
    expect(normalised('envoy-compose.yaml')).toEqual(normalised('envoy.yaml'));
  });

  it('reaches faas-waker and the gateway by compose service name', () => {
    const p = parts('envoy-compose.yaml');
    expect(at(p.listener, 'address.socket_address.address')).toBe('0.0.0.0');
    expect(endpointAddress(named(p.clusters, 'faas_waker', 'clusters'))).toEqual({ address: 'faas-waker', port_value: 50051 });
    expect(endpointAddress(named(p.clusters, 'function_gateway', 'clusters'))).toEqual({ address: 'gateway', port_value: 8080 });
    expect(endpointAddress(named(p.clusters, 'function_grpc', 'clusters'))).toEqual({ address: 'gateway', port_value: 8080 });
    for (const c of p.clusters) expect(c['type']).toBe('STRICT_DNS');
  });
});

describe('docker-compose.yaml', () => {
  const compose = obj(loadYaml('docker-compose.yaml'), 'docker-compose.yaml');
  const pinned = /ENVOY_VERSION = '([^']+)'/.exec(readFileSync(join(repoRoot, 'scripts', 'lib', 'envoy-path.mjs'), 'utf8'))?.[1];

  it('runs the same Envoy version as the tests, with envoy-compose.yaml', () => {
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    const envoy = obj(at(compose, 'services.envoy'), 'services.envoy');
    expect(envoy['image']).toBe(`envoyproxy/envoy:v${String(pinned)}`);
    expect(list(envoy['volumes'], 'volumes')).toContain('./envoy-compose.yaml:/etc/envoy/envoy.yaml:ro');
  });

  it('gives Envoy more open files than the overload manager lets connections in', () => {
    const monitors = list(at(parts('envoy-compose.yaml').bootstrap, 'overload_manager.resource_monitors'), 'resource_monitors');
    const cap = num(
      named(monitors, 'envoy.resource_monitors.global_downstream_max_connections', 'resource_monitors'),
      'typed_config.max_active_downstream_connections',
    );
    const nofile = obj(at(compose, 'services.envoy.ulimits.nofile'), 'nofile');
    expect(num(nofile, 'soft')).toBeGreaterThan(cap);
    expect(num(nofile, 'hard')).toBeGreaterThanOrEqual(num(nofile, 'soft'));
  });

  it('points faas-waker at the gateway and listens where the faas_waker cluster dials', () => {
    const env = obj(at(compose, 'services.faas-waker.environment'), 'environment');
    expect(env['WAKER_PROVIDER_URL']).toBe('http://gateway:8080');
    expect(env['WAKER_GRPC_ADDRESS']).toBe('0.0.0.0:50051');
  });
});
