import { createStreamHandler, type Decision, type StreamHandlerDeps } from '../../src/extproc/stream-handler';
import type { ProcessCall, ProcessCallHandlers } from '../../src/extproc/process-call';
import { HEADER_COLD_START, HEADER_WAIT_MS } from '../../src/extproc/responses';
import { CONTINUE_REQUEST_HEADERS, CONTINUE_REQUEST_HEADERS_TRACKED, decodeIncoming } from '../../src/extproc/wire';
import { ProcessingMode_HeaderSendMode } from '../../src/gen/envoy/extensions/filters/http/ext_proc/v3/processing_mode';
import { ProcessingRequest, ProcessingResponse } from '../../src/gen/envoy/service/ext_proc/v3/external_processor';
import type { ActivitySink, ActivityStart } from '../../src/idle/activity';
import { createLogger } from '../../src/logging';
import { POLICY_KEYS } from '../../src/policy/policy';
import type { FunctionRef } from '../../src/routing/function-ref';
import { compileWaitingPage } from '../../src/waiting-page/waiting-page';
import { createReadinessCache, type ReadinessCache } from '../../src/waker/readiness-cache';
import { Waker } from '../../src/waker/waker';
import { deferred } from '../fakes/deferred';
import { FakeClock } from '../fakes/fake-clock';
import { FakeProvider } from '../fakes/fake-provider';
import { HELLO, OTHER, T0, WAKER_OPTIONS } from '../fakes/waker-harness';

const GLOBAL_HOLD_MS = WAKER_OPTIONS.holdTimeoutMs;
const MARGIN_MS = 1000;
const BROWSER = {
  accept: 'text/html,application/xhtml+xml,*/*;q=0.8',
  'sec-fetch-mode': 'navigate',
};

class FakeCall implements ProcessCall {
  handlers: ProcessCallHandlers | undefined;
  readonly writes: Buffer[] = [];
  listen(handlers: ProcessCallHandlers): void {
    this.handlers = handlers;
  }
  write(response: Buffer): void {
    this.writes.push(Buffer.from(response));
  }
  end(): void {}
  fail(): void {
    throw new Error('unexpected fail');
  }
  decoded(): ProcessingResponse[] {
    return this.writes.map((w) => ProcessingResponse.decode(w));
  }
  /** Answers to the head (an override alone is not one). */
  answers(): ProcessingResponse[] {
    return this.decoded().filter((r) => r.response !== undefined);
  }
  overridesMs(): number[] {
    return this.decoded().flatMap((r) =>
      r.overrideMessageTimeout === undefined ? [] : [r.overrideMessageTimeout.seconds * 1000 + r.overrideMessageTimeout.nanos / 1e6],
    );
  }
  status(): number | undefined {
    const answer = this.answers()[0]?.response;
    return answer?.$case === 'immediateResponse' ? answer.value.status?.code : answer?.$case === 'requestHeaders' ? 0 : undefined;
  }
  header(name: string): string | undefined {
    const answer = this.answers()[0]?.response;
    if (answer?.$case !== 'immediateResponse') return undefined;
    const h = answer.value.headers?.setHeaders.find((x) => x.header?.key === name);
    return h?.header?.rawValue.toString('latin1');
  }
}

function head(path: string, extra: Record<string, string> = {}, method = 'GET'): Buffer {
  const headers = Object.entries({ ':path': path, ':method': method, 'x-request-id': 'rid', ...extra }).map(([key, value]) => ({
    key,
    value: '',
    rawValue: Buffer.from(value, 'latin1'),
  }));
  return Buffer.from(
    ProcessingRequest.encode(
      ProcessingRequest.fromPartial({ request: { $case: 'requestHeaders', value: { headers: { headers }, endOfStream: true } } }),
    ).finish(),
  );
}

/** An ActivitySink whose answers the test scripts. */
class FakeActivity implements ActivitySink {
  readonly started_: string[] = [];
  ends = 0;
  next: (() => ActivityStart | undefined) | undefined;
  started(fn: FunctionRef): ActivityStart | undefined {
    this.started_.push(fn.key);
    const make = this.next ?? (() => ({ end: () => void this.ends++ }));
    return make();
  }
}

interface Rig {
  clock: FakeClock;
  provider: FakeProvider;
  waker: Waker;
  cache: ReadinessCache;
  decisions: string[];
  send(path: string, extra?: Record<string, string>, method?: string): FakeCall;
  at(ms: number): Promise<void>;
}
const open: Rig[] = [];
afterEach(() => {
  for (const r of open.splice(0)) {
    r.waker.stop();
    r.cache.close();
  }
});

function rig(extra: Partial<StreamHandlerDeps> = {}, waitingPageOn = true): Rig {
  const clock = new FakeClock(T0);
  const provider = new FakeProvider(clock);
  const cache = createReadinessCache({ readyTtlMs: 60_000, notFoundTtlMs: 1000, maxKeys: 100 });
  const logger = createLogger('silent');
  const waker = new Waker({ ...WAKER_OPTIONS, maxHoldTimeoutMs: 119_000 }, { provider, cache, clock, logger, random: () => 0.5 });
  const decisions: string[] = [];
  const handler = createStreamHandler({
    waker,
    router: { prefixes: ['/function/'], defaultNamespace: 'openfaas-fn' },
    logger,
    holdTimeoutMs: GLOBAL_HOLD_MS,
    overrideMarginMs: MARGIN_MS,
    clock,
    observer: { decision: (d: Decision, reason) => decisions.push(reason === undefined ? d : `${d}:${reason}`) },
    waitingPage: { page: compileWaitingPage('<p>{{name}} in {{namespace}} starting</p>'), onByDefault: waitingPageOn, refreshSec: 2 },
    ...extra,
  });
  const r: Rig = {
    clock,
    provider,
    waker,
    cache,
    decisions,
    send(path, headers = {}, method = 'GET') {
      const call = new FakeCall();
      handler(call);
      call.handlers?.data(decodeIncoming(head(path, headers, method)));
      return call;
    },
    at: (ms) => clock.advanceTo(T0 + ms),
  };
  open.push(r);
  return r;
}

/** Makes the waker learn the function's policy (as any earlier status would). */
async function learn(r: Rig): Promise<void> {
  await r.waker.check(HELLO, new AbortController().signal, 1000);
}

describe('stream handler: hold budget and the override', () => {
  test('a function never seen: override for the global hold first, then one status call, then the scale', async () => {
    const r = rig();
    r.provider.define(HELLO.key, { startupMs: 100, annotations: { [POLICY_KEYS.holdTimeout]: '30s' } });
    const call = r.send('/function/hello');
    expect(call.overridesMs()).toEqual([GLOBAL_HOLD_MS + MARGIN_MS]);
    expect(call.writes).toHaveLength(1);
    await r.at(0);
    expect([r.provider.statusCallCount(), r.provider.scaleCallCount()]).toEqual([1, 1]);
    await r.at(1000);
    expect(call.answers()[0]?.response?.$case).toBe('requestHeaders');
    expect(r.decisions).toEqual(['woken']);
    // The policy is known now: the next cold request's override is sized for its 30 s.
    r.provider.scaleToZero(HELLO.key);
    r.cache.delete(HELLO.key);
    const next = r.send('/function/hello');
    expect(next.overridesMs()).toEqual([30_000 + MARGIN_MS]);
  });

  test('a short per-function hold gives its 504 before the global one', async () => {
    const r = rig();
    r.provider.define(HELLO.key, { startupMs: null, annotations: { [POLICY_KEYS.holdTimeout]: '1500ms' } });
    await learn(r);
    const call = r.send('/function/hello');
    expect(call.overridesMs()).toEqual([1500 + MARGIN_MS]);
    await r.at(1499);
    expect(call.answers()).toEqual([]);
    await r.at(1500);
    expect([call.status(), call.header('retry-after')]).toEqual([504, '2']);
  });
});

describe('stream handler: the answers of a released burst', () => {
  /** What a held request's CONTINUE told the upstream and Envoy's log. */
  const heldAnswer = (call: FakeCall): { wait?: string; cold?: string; fn?: unknown; waitMs?: unknown } => {
    const answer = call.answers()[0];
    const headers = answer?.response?.$case === 'requestHeaders' ? answer.response.value.response?.headerMutation?.setHeaders : [];
    const value = (key: string): string | undefined => headers?.find((h) => h.header?.key === key)?.header?.rawValue.toString('latin1');
    const raw: unknown = answer?.dynamicMetadata?.['faas_waker'];
    const meta = new Map(typeof raw === 'object' && raw !== null ? Object.entries(raw) : []);
    return { wait: value(HEADER_WAIT_MS), cold: value(HEADER_COLD_START), fn: meta.get('function'), waitMs: meta.get('wait_ms') };
  };

  test('every waiter gets its own wait, and each function its own answer (one encoding shared per function)', async () => {
    const r = rig();
    r.provider.define(HELLO.key, { startupMs: 1000 }).define(OTHER.key, { startupMs: 1000 });
    const early = r.send('/function/hello');
    const other = r.send('/function/other');
    await r.at(400);
    const late = r.send('/function/hello');
    await r.at(3000);
    // Readiness is noticed at a poll after 1000 ms (the same one for both functions' schedules).
    const waited = Number(heldAnswer(early).wait);
    expect(waited).toBeGreaterThanOrEqual(1000);
    expect([heldAnswer(early), heldAnswer(late), heldAnswer(other)]).toEqual([
      { wait: String(waited), cold: 'true', fn: HELLO.key, waitMs: waited },
      { wait: String(waited - 400), cold: 'true', fn: HELLO.key, waitMs: waited - 400 },
      { wait: String(waited), cold: 'true', fn: OTHER.key, waitMs: waited },
    ]);
  });
});

describe('stream handler: no-wake paths', () => {
  test('asleep: 503 + retry-after at once, never a scale; awake: passes', async () => {
    const r = rig();
    r.provider.define(HELLO.key, { startupMs: 100, annotations: { [POLICY_KEYS.noWakePaths]: '/healthz,/robots.txt' } });
    const first = r.send('/function/hello/healthz?probe=1'); // policy unknown: one status call decides
    await r.at(0);
    expect([first.status(), first.header('retry-after'), r.provider.scaleCallCount()]).toEqual([503, '5', 0]);
    const answer = first.answers()[0]?.response;
    expect(answer?.$case === 'immediateResponse' ? answer.value.body.toString() : '').toBe(
      'function is asleep; this path does not wake it\n',
    );
    const known = r.send('/function/hello/robots.txt');
    await r.at(1);
    expect([known.status(), r.provider.scaleCallCount()]).toEqual([503, 0]);
    expect(r.decisions).toEqual(['rejected:no_wake_path', 'rejected:no_wake_path']);

    const woke = r.send('/function/hello/other');
    await r.at(1000);
    expect([woke.status(), r.provider.scaleCallCount()]).toEqual([0, 1]);
    const awake = r.send('/function/hello/healthz');
    expect(awake.writes).toEqual([CONTINUE_REQUEST_HEADERS]);
  });

  test('running but not cached: the status call lets it through, no scale', async () => {
    const r = rig();
    r.provider.define(HELLO.key, { replicas: 1, annotations: { [POLICY_KEYS.noWakePaths]: '/healthz' } });
    await learn(r);
    r.cache.delete(HELLO.key);
    const call = r.send('/function/hello/healthz');
    await r.at(0);
    expect([call.status(), r.provider.scaleCallCount(), r.decisions]).toEqual([0, 0, ['checked']]);
  });
});

describe('stream handler: the waiting page', () => {
  test('a browser gets the page at once and the wake starts; once ready, the function answers', async () => {
    const r = rig();
    r.provider.define(HELLO.key, { startupMs: 500 });
    const call = r.send('/function/hello', BROWSER);
    await r.at(0);
    expect([
      call.status(),
      call.header('content-type'),
      call.header('cache-control'),
      call.header('refresh'),
      call.header('retry-after'),
    ]).toEqual([503, 'text/html; charset=utf-8', 'no-store', '2', '2']);
    const answer = call.answers()[0]?.response;
    expect(answer?.$case === 'immediateResponse' ? answer.value.body.toString() : '').toBe('<p>hello in openfaas-fn starting</p>');
    expect(r.provider.scaleCallCount()).toBe(1);
    expect(r.decisions).toEqual(['rejected:waiting_page']);

    const calls = r.provider.statusCallCount();
    const reload = r.send('/function/hello', BROWSER); // during the wake: no provider call for the page
    await r.at(1);
    expect([reload.status(), r.provider.statusCallCount()]).toEqual([503, calls]);

    await r.at(2000);
    const after = r.send('/function/hello', BROWSER);
    expect(after.writes).toEqual([CONTINUE_REQUEST_HEADERS]);
    expect(r.provider.scaleCallCount()).toBe(1);
  });

  test.each<[string, Record<string, string>, string]>([
    ['curl (accept */*)', { accept: '*/*' }, 'GET'],
    ['an XHR', { ...BROWSER, 'x-requested-with': 'XMLHttpRequest' }, 'GET'],
    ['fetch()', { accept: 'text/html', 'sec-fetch-mode': 'cors' }, 'GET'],
    ['a WebSocket upgrade', { ...BROWSER, upgrade: 'websocket' }, 'GET'],
    ['a form POST', BROWSER, 'POST'],
  ])('%s is held, not given the page', async (_name, headers, method) => {
    const r = rig();
    r.provider.define(HELLO.key, { startupMs: 500 });
    const call = r.send('/function/hello', headers, method);
    await r.at(1000);
    expect(call.answers()[0]?.response?.$case).toBe('requestHeaders');
    expect(r.decisions).toEqual(['woken']);
  });

  test('the policy turns it off (or on against the default)', async () => {
    const off = rig();
    off.provider.define(HELLO.key, { startupMs: 500, labels: { [POLICY_KEYS.waitingPage]: 'off' } });
    const held = off.send('/function/hello', BROWSER);
    await off.at(1000);
    expect(held.status()).toBe(0);

    const on = rig({}, false);
    on.provider.define(HELLO.key, { startupMs: 500, labels: { [POLICY_KEYS.waitingPage]: 'on' } });
    const page = on.send('/function/hello', BROWSER);
    await on.at(0);
    expect(page.status()).toBe(503);
  });

  test('a browser request to a running (uncached) function goes through', async () => {
    const r = rig();
    r.provider.define(HELLO.key, { replicas: 1 });
    const call = r.send('/function/hello', BROWSER);
    await r.at(0);
    expect([call.status(), r.decisions]).toEqual([0, ['checked']]);
  });
});

describe('stream handler: idle tracking hook', () => {
  const TRACKING_MODE = {
    requestHeaderMode: ProcessingMode_HeaderSendMode.SEND,
    responseHeaderMode: ProcessingMode_HeaderSendMode.SKIP,
    requestBodyMode: 0,
    responseBodyMode: 0,
    requestTrailerMode: 0,
    responseTrailerMode: ProcessingMode_HeaderSendMode.SEND,
  };

  test('warm and tracked: CONTINUE with the mode override; end() once when the stream closes', async () => {
    const activity = new FakeActivity();
    const r = rig({ activity });
    r.provider.define(HELLO.key, { replicas: 1 });
    await learn(r);
    const call = r.send('/function/hello');
    expect(call.writes).toEqual([CONTINUE_REQUEST_HEADERS_TRACKED]);
    expect(activity.started_).toEqual([HELLO.key]);
    expect(activity.ends).toBe(0);
    call.handlers?.end();
    call.handlers?.gone();
    expect(activity.ends).toBe(1);
  });

  test('not a candidate (undefined): the plain CONTINUE, nothing to end', async () => {
    const activity = new FakeActivity();
    activity.next = () => undefined;
    const r = rig({ activity });
    r.provider.define(HELLO.key, { replicas: 1 });
    await learn(r);
    const call = r.send('/function/hello');
    expect(call.writes).toEqual([CONTINUE_REQUEST_HEADERS]);
  });

  test('after a hold: continueAfterHold carries the same mode override', async () => {
    const activity = new FakeActivity();
    const r = rig({ activity });
    r.provider.define(HELLO.key, { startupMs: 100 });
    const call = r.send('/function/hello');
    expect(activity.started_).toEqual([]); // not let through yet
    await r.at(1000);
    const answer = call.answers()[0];
    expect(answer?.modeOverride).toEqual(TRACKING_MODE);
    const headers = answer?.response?.$case === 'requestHeaders' ? answer.response.value.response?.headerMutation?.setHeaders : [];
    expect(headers?.find((h) => h.header?.key === HEADER_COLD_START)?.header?.rawValue.toString()).toBe('true');
    call.handlers?.gone();
    call.handlers?.gone();
    expect(activity.ends).toBe(1);
  });

  test('confirmed true: override first, then the tracked CONTINUE', async () => {
    const activity = new FakeActivity();
    const confirmed = deferred<boolean>();
    activity.next = () => ({ end: () => void activity.ends++, confirmed: confirmed.promise });
    const r = rig({ activity });
    r.provider.define(HELLO.key, { replicas: 1 });
    await learn(r);
    const call = r.send('/function/hello');
    expect(call.overridesMs()).toEqual([GLOBAL_HOLD_MS + MARGIN_MS]);
    expect(call.answers()).toEqual([]);
    confirmed.resolve(true);
    await r.at(0);
    expect(call.answers()).toHaveLength(1);
    expect(call.answers()[0]?.modeOverride).toEqual(TRACKING_MODE);
    expect(r.decisions).toEqual(['warm']);
  });

  test('confirmed false: that start ends, the request is held and woken, then tracked again', async () => {
    const activity = new FakeActivity();
    const confirmed = deferred<boolean>();
    let first = true;
    activity.next = () => {
      if (!first) return { end: () => void activity.ends++ };
      first = false;
      return { end: () => void activity.ends++, confirmed: confirmed.promise };
    };
    const r = rig({ activity });
    r.provider.define(HELLO.key, { replicas: 1 });
    await learn(r);
    const call = r.send('/function/hello');
    r.provider.scaleToZero(HELLO.key); // the idler won the race
    confirmed.resolve(false);
    await r.at(0);
    expect(activity.ends).toBe(1);
    expect(r.provider.scaleCallCount()).toBe(1);
    await r.at(1000);
    expect(call.overridesMs()).toEqual([GLOBAL_HOLD_MS + MARGIN_MS]); // one override per message, never two
    expect(call.answers()).toHaveLength(1);
    expect(call.answers()[0]?.modeOverride).toEqual(TRACKING_MODE);
    expect(activity.started_).toEqual([HELLO.key, HELLO.key]);
    call.handlers?.gone();
    expect(activity.ends).toBe(2);
  });

  test('a tracked stream answers later phases (response trailers) with their plain continue', async () => {
    const activity = new FakeActivity();
    const r = rig({ activity });
    r.provider.define(HELLO.key, { replicas: 1 });
    await learn(r);
    const call = r.send('/function/hello');
    const trailers = Buffer.from(
      ProcessingRequest.encode(
        ProcessingRequest.fromPartial({ request: { $case: 'responseTrailers', value: { trailers: { headers: [] } } } }),
      ).finish(),
    );
    call.handlers?.data(decodeIncoming(trailers));
    expect(ProcessingResponse.decode(call.writes[1] ?? Buffer.alloc(0)).response?.$case).toBe('responseTrailers');
  });
});
