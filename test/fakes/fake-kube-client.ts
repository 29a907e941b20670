import { abortReason } from '../../src/clock';
import type { KubeClient, KubeObject, KubeResponse, WatchEnd, WatchEvent, WatchEventType } from '../../src/provider/kubernetes/kube-client';

/** One watch the code under test opened; the test drives it. */
export interface FakeWatch {
  readonly path: string;
  readonly resourceVersion: string;
  readonly signal: AbortSignal;
  /** Tells the caller the server accepted the watch (done at once unless `autoConnect` is off). */
  connect(): void;
  emit(type: WatchEventType, object: KubeObject): void;
  end(end: WatchEnd): void;
  fail(err: Error): void;
  readonly done: boolean;
}

type Answer = KubeResponse | Error;

interface Scripted {
  readonly match: (method: string, path: string) => boolean;
  readonly answer: Answer;
}

/**
 * A scripted KubeClient: requests are answered from queued answers (first matching one, used once);
 * an unscripted request fails the test loudly. Watches are handed to the test to drive.
 */
export class FakeKubeClient implements Pick<KubeClient, 'request' | 'watch'> {
  readonly requests: { readonly method: string; readonly path: string; readonly body?: unknown; readonly contentType?: string }[] = [];
  readonly watches: FakeWatch[] = [];
  autoConnect = true;
  private readonly script: Scripted[] = [];
  private readonly watchWaiters: { readonly count: number; readonly resolve: () => void }[] = [];

  /** Queues answers for requests whose path contains `pathPart`, in order. */
  answer(pathPart: string, ...answers: Answer[]): this {
    for (const answer of answers) this.script.push({ match: (_m, p) => p.includes(pathPart), answer });
    return this;
  }

  /** Answers not yet used. */
  get pendingAnswers(): number {
    return this.script.length;
  }

  request(
    method: string,
    path: string,
    options?: { readonly signal?: AbortSignal; readonly body?: unknown; readonly contentType?: string },
  ): Promise<KubeResponse> {
    this.requests.push({ method, path, body: options?.body, contentType: options?.contentType });
    if (options?.signal?.aborted === true) return Promise.reject(abortReason(options.signal));
    const index = this.script.findIndex((s) => s.match(method, path));
    if (index < 0) return Promise.reject(new Error(`FakeKubeClient: unscripted request ${method} ${path}`));
    const [scripted] = this.script.splice(index, 1);
    const answer = scripted?.answer;
    return answer instanceof Error || answer === undefined ? Promise.reject(answer ?? new Error('no answer')) : Promise.resolve(answer);
  }

  watch(
    path: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent) => void,
    signal: AbortSignal,
    onConnected?: () => void,
  ): Promise<WatchEnd> {
    return new Promise<WatchEnd>((resolve, reject) => {
      let done = false;
      const finish = (): boolean => {
        if (done) return false;
        done = true;
        signal.removeEventListener('abort', onAbort);
        return true;
      };
      const onAbort = (): void => {
        if (finish()) reject(abortReason(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const watch: FakeWatch = {
        path,
        resourceVersion,
        signal,
        connect: () => onConnected?.(),
        emit: (type, object) => {
          if (done) throw new Error('FakeKubeClient: emit on an ended watch');
          onEvent({ type, object });
        },
        end: (end) => {
          if (finish()) resolve(end);
        },
        fail: (err) => {
          if (finish()) reject(err);
        },
        get done() {
          return done;
        },
      };
      this.watches.push(watch);
      if (this.autoConnect) watch.connect();
      for (const waiter of this.watchWaiters.filter((w) => this.watches.length >= w.count)) waiter.resolve();
      if (signal.aborted) onAbort();
    });
  }

  closed = false;

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /** Resolves once `count` watches were opened in all. */
  waitForWatches(count: number): Promise<void> {
    if (this.watches.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.watchWaiters.push({ count, resolve }));
  }

  /** The most recent watch on a path containing `pathPart`. */
  lastWatch(pathPart = ''): FakeWatch {
    const found = [...this.watches].reverse().find((w) => w.path.includes(pathPart));
    if (found === undefined) throw new Error(`FakeKubeClient: no watch on ${pathPart}`);
    return found;
  }
}

/** A LIST answer page. */
export function listPage(items: readonly KubeObject[], resourceVersion: string, continueToken?: string): KubeResponse {
  return {
    status: 200,
    body: {
      kind: 'List',
      apiVersion: 'v1',
      metadata: { resourceVersion, ...(continueToken === undefined ? {} : { continue: continueToken }) },
      items,
    },
  };
}

/** A Kubernetes Status error answer. */
export function statusAnswer(code: number, message: string): KubeResponse {
  return { status: code, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code } };
}

export function object(namespace: string, name: string, resourceVersion: string, extra: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace, resourceVersion }, ...extra };
}
