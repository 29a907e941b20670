/**
 * `node build/bench/handler-cost.js`: the CPU faas-waker's own code spends on one warm request, with
 * no transport at all — the real stream handler, router, waker, readiness cache and metrics, fed a
 * ProcessingRequest as Envoy encodes it (4 forwarded headers) through a ProcessCall that only counts
 * writes. The warm bench measures the whole process (node:http2 included); the difference between the
 * two is what HTTP/2 costs. Prints µs of CPU per request for a few rounds (the first includes JIT warm-up).
 */
import { createStreamHandler } from '../src/extproc/stream-handler';
import { decodeIncoming, type Incoming } from '../src/extproc/wire';
import type { ProcessCall, ProcessCallHandlers } from '../src/extproc/process-call';
import { ProcessingRequest } from '../src/gen/envoy/service/ext_proc/v3/external_processor';
import { createLogger } from '../src/logging';
import { createMetrics } from '../src/metrics';
import type { ProviderClient } from '../src/provider/provider-client';
import { createReadinessCache } from '../src/waker/readiness-cache';
import { Waker } from '../src/waker/waker';
import { systemClock } from '../src/clock';

const ROUNDS = 5;
const REQUESTS_PER_ROUND = 200_000;

const unused = (): Promise<never> => Promise.reject(new Error('the warm path calls no provider'));
const provider: ProviderClient = { getStatus: unused, scale: unused, listStatuses: unused, close: () => Promise.resolve() };
const cache = createReadinessCache({ readyTtlMs: 3_600_000, notFoundTtlMs: 1000, maxKeys: 1000 });
const metrics = createMetrics('bench');
const logger = createLogger('silent');
const waker = new Waker(
  {
    holdTimeoutMs: 1000,
    wakeTimeoutMs: 2000,
    maxHeldPerFunction: 10,
    maxHeldTotal: 10,
    pollMinIntervalMs: 25,
    pollMaxIntervalMs: 1000,
    maxLearned: 10,
  },
  { provider, cache, clock: systemClock, logger, observer: metrics.waker },
);
cache.setReady('warm.openfaas-fn', systemClock.now());
const handler = createStreamHandler({
  waker,
  router: { prefixes: ['/function/'], defaultNamespace: 'openfaas-fn' },
  logger,
  holdTimeoutMs: 1000,
  overrideMarginMs: 1000,
  observer: metrics.stream,
  clock: systemClock,
});

const headers = Object.entries({
  ':path': '/function/warm',
  ':method': 'GET',
  ':authority': '127.0.0.1:10000',
  'x-request-id': '8c0f6e3e-2a3c-4b51-9d6e-1f2a3b4c5d6e',
}).map(([key, value]) => ({ key, value: '', rawValue: Buffer.from(value) }));
const message = Buffer.from(
  ProcessingRequest.encode(
    ProcessingRequest.fromPartial({ request: { $case: 'requestHeaders', value: { headers: { headers }, endOfStream: true } } }),
  ).finish(),
);

let writes = 0;
function oneRequest(): void {
  let registered: ProcessCallHandlers | undefined;
  const call: ProcessCall = {
    listen: (h) => (registered = h),
    write: () => void writes++,
    end: () => undefined,
    fail: () => undefined,
  };
  handler(call);
  const incoming: Incoming = decodeIncoming(message);
  registered?.data(incoming);
  registered?.end();
}

for (let round = 1; round <= ROUNDS; round++) {
  const before = process.cpuUsage();
  for (let i = 0; i < REQUESTS_PER_ROUND; i++) oneRequest();
  const used = process.cpuUsage(before);
  process.stdout.write(
    `round ${round}: ${((used.user + used.system) / REQUESTS_PER_ROUND).toFixed(2)} µs CPU per warm request (${REQUESTS_PER_ROUND} requests)\n`,
  );
}
if (writes !== ROUNDS * REQUESTS_PER_ROUND) throw new Error(`expected one CONTINUE per request, got ${writes}`);
cache.close();
