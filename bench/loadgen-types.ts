/** The contract between the benchmark driver and its load-generator child (`build/bench/loadgen.js`).
 * The driver writes a spec file, the child prints JSON event lines (`measuring`, `done`) on stdout
 * and writes its result file. Files, not argv or stdout, carry the bulk (10,000 paths, 100k latencies). */

/** Fixed-rate open loop (wrk2-style): send times follow a timetable, latency counts from the scheduled time. */
export interface RateSpec {
  readonly mode: 'rate';
  readonly origin: string;
  readonly path: string;
  readonly rps: number;
  /** Same rate, not recorded: opens connections and warms JITs before the measured window. */
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Most keep-alive connections (opened on demand). */
  readonly connections: number;
  /** Requests in flight beyond this are not sent and are counted as `skipped` (bounds memory). */
  readonly maxInFlight: number;
  readonly timeoutMs: number;
}

/** Closed loop: `connections` workers, each sends its next request when the previous one ends. */
export interface ClosedSpec {
  readonly mode: 'closed';
  readonly origin: string;
  readonly path: string;
  readonly connections: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly timeoutMs: number;
}

/** Every path requested at once; HTTP/1.1 uses one connection per request, h2 multiplexes (prior knowledge). */
export interface BurstSpec {
  readonly mode: 'burst';
  readonly origin: string;
  readonly paths: readonly string[];
  readonly protocol: 'h1' | 'h2';
  readonly streamsPerConnection: number;
  readonly timeoutMs: number;
}

export type LoadSpec = RateSpec | ClosedSpec | BurstSpec;

/** Result of `rate` and `closed` runs; only requests scheduled (rate) or started (closed) inside the window count. */
export interface LoadResult {
  readonly mode: 'rate' | 'closed';
  /** Latency of each successful (2xx) request in the window, ms, in completion order. */
  readonly latenciesMs: number[];
  readonly sent: number;
  readonly ok: number;
  /** Non-2xx answers and transport errors. */
  readonly errors: number;
  /** Not sent because `maxInFlight` requests were outstanding (rate mode only). */
  readonly skipped: number;
  readonly statusCounts: Record<string, number>;
  readonly errorSamples: string[];
  /** Measured window, ms (closed: fixed; rate: first scheduled send to last answer). */
  readonly windowMs: number;
  /** Generator CPU (user + system) over the window, ms. */
  readonly cpuMs: number;
  /** Most requests in flight at once during the window. */
  readonly maxInFlight: number;
}

export interface BurstRequest {
  readonly path: string;
  /** HTTP status, 0 on a transport error. */
  readonly status: number;
  /** Epoch ms (performance.timeOrigin + performance.now()) when the request was handed to the socket layer. */
  readonly sentAtMs: number;
  /** Epoch ms when the response head (first byte) arrived; null on error. */
  readonly firstByteAtMs: number | null;
  readonly doneAtMs: number | null;
  readonly error: string | null;
  /** Start of the body of a non-2xx answer (who answered and why: Envoy, faas-waker or the provider). */
  readonly detail: string | null;
}

export interface BurstResult {
  readonly mode: 'burst';
  readonly requests: BurstRequest[];
  readonly cpuMs: number;
}
