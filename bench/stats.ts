/** Distributions from raw samples: exact percentiles (nearest rank), no histogram rounding. */

export interface Distribution {
  readonly count: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly min: number;
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? NaN;
}

export function distribution(samples: readonly number[]): Distribution {
  const sorted = Float64Array.from(samples).sort();
  const list = Array.from(sorted);
  let sum = 0;
  for (const x of list) sum += x;
  return {
    count: list.length,
    mean: list.length === 0 ? NaN : sum / list.length,
    p50: percentile(list, 50),
    p90: percentile(list, 90),
    p99: percentile(list, 99),
    p999: percentile(list, 99.9),
    max: list.length === 0 ? NaN : (list[list.length - 1] ?? NaN),
    min: list.length === 0 ? NaN : (list[0] ?? NaN),
  };
}

/** Rounds to `digits` decimals; NaN and infinities become null so JSON stays valid and honest. */
export function round(x: number, digits = 3): number | null {
  if (!Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** a / b rounded, or null when either side is missing or b is 0. */
export function ratio(a: number | null, b: number | null, digits = 3): number | null {
  if (a === null || b === null || b === 0) return null;
  return round(a / b, digits);
}
