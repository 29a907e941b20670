/**
 * At most one piece of work in flight per key; callers that arrive meanwhile share its promise.
 * Results and errors are never remembered: the next call after settling starts fresh work.
 */
export class SingleFlight<T> {
  private readonly inflight = new Map<string, Promise<T>>();

  run(key: string, work: () => Promise<T>): Promise<T> {
    const existing = this.inflight.get(key);
    if (existing !== undefined) return existing;
    const promise = work().finally(() => this.inflight.delete(key));
    this.inflight.set(key, promise);
    return promise;
  }

  has(key: string): boolean {
    return this.inflight.has(key);
  }

  keys(): IterableIterator<string> {
    return this.inflight.keys();
  }

  get size(): number {
    return this.inflight.size;
  }
}
