/** Counts held requests per function and in total, and refuses past the limits (bounded memory). */
export class HoldLimiter {
  private readonly perFunction = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly maxPerFunction: number,
    private readonly maxTotal: number,
  ) {}

  tryAcquire(key: string): boolean {
    const held = this.perFunction.get(key) ?? 0;
    if (held >= this.maxPerFunction || this.total >= this.maxTotal) return false;
    this.perFunction.set(key, held + 1);
    this.total++;
    return true;
  }

  release(key: string): void {
    const held = this.perFunction.get(key) ?? 0;
    if (held <= 0) return;
    if (held === 1) this.perFunction.delete(key);
    else this.perFunction.set(key, held - 1);
    this.total--;
  }

  held(key: string): number {
    return this.perFunction.get(key) ?? 0;
  }

  get totalHeld(): number {
    return this.total;
  }

  entries(): IterableIterator<[string, number]> {
    return this.perFunction.entries();
  }

  /** Held requests per function key, live (read it, do not keep it). */
  counts(): ReadonlyMap<string, number> {
    return this.perFunction;
  }
}
