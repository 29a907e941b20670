/**
 * "Never a provider call for an invalid name": the real stream handler, router and waker, fed
 * arbitrary `:path`s through fake ProcessCalls (each request encoded and decoded as Envoy's would
 * be; some with a browser navigation's headers, so the waiting page is in play), over a provider that
 * records every name it is asked about. Whatever the paths, the provider only ever sees DNS labels,
 * and every request gets exactly one answer (none after its client left).
 */
import fc from 'fast-check';
import { createStreamHandler } from '../../src/extproc/stream-handler';
import type { ProcessCall, ProcessCallHandlers } from '../../src/extproc/process-call';
import { decodeIncoming } from '../../src/extproc/wire';
import { ProcessingRequest, ProcessingResponse } from '../../src/gen/envoy/service/ext_proc/v3/external_processor';
import { createLogger } from '../../src/logging';
import { POLICY_KEYS } from '../../src/policy/policy';
import type { ProviderClient } from '../../src/provider/provider-client';
import type { FunctionStatus } from '../../src/provider/provider-types';
import { isDnsLabel, type FunctionRef } from '../../src/routing/function-ref';
import { routeRequest, type RouterOptions } from '../../src/routing/router';
import { createReadinessCache } from '../../src/waker/readiness-cache';
import { BUILT_IN_TEMPLATE, compileWaitingPage } from '../../src/waiting-page/waiting-page';
import { Waker } from '../../src/waker/waker';
import { FakeClock } from '../fakes/fake-clock';
import { FakeProvider } from '../fakes/fake-provider';
import { T0, WAKER_OPTIONS } from '../fakes/waker-harness';

const ROUTER: RouterOptions = { prefixes: ['/function/', '/async-function/'], defaultNamespace: 'openfaas-fn' };
const HOLD_TIMEOUT_MS = 2000;
/** The ceiling a function's own `faas-waker/hold-timeout` is clamped to. */
const MAX_HOLD_TIMEOUT_MS = 3000;
/** Fake-time steps after the last request: well past the longest hold, so every hold has ended. */
const STEP_MS = 100;
const MAX_STEPS = (4 * MAX_HOLD_TIMEOUT_MS) / STEP_MS;

/** What the provider was asked about: names and namespaces as given. */
interface Asked {
  readonly names: string[];
  readonly namespaces: string[];
}

type Annotations = Readonly<Record<string, string>>;

/**
 * Delegates to a FakeProvider, recording every name and namespace before the fake sees it, and
 * adding each function's annotations (its per-function policy) to the statuses it reports.
 */
function recording(inner: FakeProvider, asked: Asked, annotations: Readonly<Record<string, Annotations>>): ProviderClient {
  const note = (fn: FunctionRef): void => {
    asked.names.push(fn.name);
    asked.namespaces.push(fn.namespace);
  };
  const withPolicy = (status: FunctionStatus): FunctionStatus => {
    const extra = annotations[`${status.name}.${status.namespace ?? ''}`];
    return extra === undefined ? status : { ...status, annotations: extra };
  };
  return {
    getStatus: (fn, signal) => (note(fn), inner.getStatus(fn, signal).then(withPolicy)),
    scale: (fn, replicas, signal) => (note(fn), inner.scale(fn, replicas, signal)),
    listStatuses: (namespace, signal) => (
      asked.namespaces.push(namespace),
      inner.listStatuses(namespace, signal).then((l) => l.map(withPolicy))
    ),
    close: () => inner.close(),
  };
}

/** Per-function policies, valid and not: no-wake paths, waiting page on/off, holds short, clamped or garbage. */
const annotationsOf: fc.Arbitrary<Annotations> = fc.record(
  {
    [POLICY_KEYS.noWakePaths]: fc.constantFrom('/x', '/', '/healthz,/x', 'x', '/\u00e9', ''),
    [POLICY_KEYS.waitingPage]: fc.constantFrom('on', 'off', 'maybe'),
    [POLICY_KEYS.holdTimeout]: fc.constantFrom('1ms', '250ms', '99h', 'soon', '0s'),
    [POLICY_KEYS.readyPathOpenFaaS]: fc.constantFrom('/ready', 'ready'),
  },
  { requiredKeys: [] },
);
const policies = fc.record({
  'warm.openfaas-fn': annotationsOf,
  'sleepy.openfaas-fn': annotationsOf,
  'never.openfaas-fn': annotationsOf,
});

/** One stream as Envoy drives it, recording what the handler writes and whether it failed the stream. */
class FakeCall implements ProcessCall {
  handlers: ProcessCallHandlers | undefined;
  readonly writes: Buffer[] = [];
  writesAfterGone = 0;
  failed = 0;
  gone = false;

  listen(handlers: ProcessCallHandlers): void {
    this.handlers = handlers;
  }
  write(response: Buffer): void {
    if (this.gone) this.writesAfterGone++;
    this.writes.push(Buffer.from(response));
  }
  end(): void {}
  fail(): void {
    this.failed++;
  }
  leave(): void {
    this.gone = true;
    this.handlers?.gone();
  }

  /** Answers to the request head: CONTINUE or an ImmediateResponse (an override alone is not an answer). */
  answers(): ProcessingResponse[] {
    return this.writes
      .map((w) => ProcessingResponse.decode(w))
      .filter((r) => r.response?.$case === 'requestHeaders' || r.response?.$case === 'immediateResponse');
  }
}

/** A request head as Envoy encodes it; `browser`: with the headers of a top-level navigation (the waiting page's audience). */
function requestHeadersBytes(path: string, requestId: string, browser: boolean): Buffer {
  const browserHeaders = browser
    ? [
        ['accept', 'text/html,application/xhtml+xml'],
        ['sec-fetch-mode', 'navigate'],
      ]
    : [];
  const headers = [
    [':path', path],
    [':method', 'GET'],
    [':authority', '127.0.0.1:10000'],
    ['x-request-id', requestId],
    ...browserHeaders,
  ].map(([key, value]) => ({ key: key as string, value: '', rawValue: Buffer.from(value as string, 'utf8') }));
  return Buffer.from(
    ProcessingRequest.encode(
      ProcessingRequest.fromPartial({ request: { $case: 'requestHeaders', value: { headers: { headers }, endOfStream: true } } }),
    ).finish(),
  );
}

// ---- paths ------------------------------------------------------------------------------------------

const KNOWN = ['warm', 'sleepy', 'never'] as const;
const hostilePiece = fc.oneof(
  fc.constantFrom('/', '.', '..', '%2e', '%2e%2e', '%2F', '%5C', '\\', '%00', '\0', '\r\n', ' ', '?', '#', '@', ':', '%', 'A', '-', '_'),
  fc.constantFrom('\u0130', '\u212a', '\u00e9', '\u{1f600}', '\u202e', 'openfaas-fn', 'staging', ...KNOWN),
  fc.string({ unit: 'binary', maxLength: 6 }),
);
const hostileTail = fc.array(hostilePiece, { maxLength: 8 }).map((p) => p.join(''));
/** Names the fake provider knows (warm, waking, never ready), unknown valid names, and anything. */
const segment = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...KNOWN, ...KNOWN.map((k) => `${k}.openfaas-fn`), 'ghost', 'ghost.staging', 'a'.repeat(63)) },
  { weight: 3, arbitrary: hostileTail },
);
const path = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.tuple(fc.constantFrom(...ROUTER.prefixes), segment, fc.constantFrom('', '/', '/x', '?q=1', '#f')).map((p) => p.join('')),
  },
  { weight: 1, arbitrary: hostileTail },
);

/** A request: its path, whether it looks like a browser navigation, and whether its client leaves while it may be held. */
const request = fc.record({ path, browser: fc.boolean(), leaves: fc.boolean() });

describe('stream handler properties (hostile paths)', () => {
  test('the provider is only ever asked about DNS labels, and every request gets exactly one answer', async () => {
    let runsThatAskedTheProvider = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 8 }), policies, async (requests, annotations) => {
        const clock = new FakeClock(T0);
        const fake = new FakeProvider(clock)
          .define('warm.openfaas-fn', { replicas: 1 })
          .define('sleepy.openfaas-fn', { startupMs: 300 })
          .define('never.openfaas-fn', { startupMs: null });
        const asked: Asked = { names: [], namespaces: [] };
        const cache = createReadinessCache({ readyTtlMs: 60_000, notFoundTtlMs: 1000, maxKeys: 100 });
        const logger = createLogger('silent');
        const waker = new Waker(
          { ...WAKER_OPTIONS, holdTimeoutMs: HOLD_TIMEOUT_MS, maxHoldTimeoutMs: MAX_HOLD_TIMEOUT_MS },
          { provider: recording(fake, asked, annotations), cache, clock, logger, random: () => 0.5 },
        );
        const handler = createStreamHandler({
          waker,
          router: ROUTER,
          logger,
          holdTimeoutMs: HOLD_TIMEOUT_MS,
          overrideMarginMs: 1000,
          waitingPage: { page: compileWaitingPage(BUILT_IN_TEMPLATE), onByDefault: true, refreshSec: 2 },
          clock,
        });
        try {
          const calls = requests.map((r, i) => {
            const call = new FakeCall();
            handler(call);
            call.handlers?.data(decodeIncoming(requestHeadersBytes(r.path, `rid-${i}`, r.browser)));
            return call;
          });
          await clock.advance(STEP_MS);
          requests.forEach((r, i) => {
            const call = calls[i] as FakeCall;
            if (r.leaves && call.answers().length === 0) call.leave();
          });
          for (let step = 0; step < MAX_STEPS && calls.some((c) => !c.gone && c.answers().length === 0); step++)
            await clock.advance(STEP_MS);

          if (asked.names.length > 0) runsThatAskedTheProvider++;
          // Only about functions some request routed to, and those are DNS labels by construction.
          const routed = new Set(
            requests.flatMap((r) => {
              const route = routeRequest(Buffer.from(r.path, 'utf8').toString('latin1'), ROUTER);
              return route.kind === 'function' ? [route.fn.name] : [];
            }),
          );
          for (const name of asked.names) expect(routed.has(name)).toBe(true);
          for (const name of asked.names) expect(isDnsLabel(name)).toBe(true);
          for (const namespace of asked.namespaces) expect(isDnsLabel(namespace)).toBe(true);
          requests.forEach((r, i) => {
            const call = calls[i] as FakeCall;
            expect(call.failed).toBe(0);
            expect(call.writesAfterGone).toBe(0);
            if (call.gone) expect(call.answers().length).toBeLessThanOrEqual(1);
            else expect(call.answers()).toHaveLength(1);
            const route = routeRequest(Buffer.from(r.path, 'utf8').toString('latin1'), ROUTER);
            const answer = call.answers()[0]?.response;
            if (route.kind === 'pass') expect(answer?.$case).toBe('requestHeaders');
            if (route.kind === 'invalid') expect(answer?.$case === 'immediateResponse' ? answer.value.status?.code : undefined).toBe(400);
          });
        } finally {
          waker.stop();
          cache.close();
        }
      }),
      { numRuns: 150 },
    );
    // The property is not vacuous: many runs reached the provider.
    expect(runsThatAskedTheProvider).toBeGreaterThan(20);
  });
});
