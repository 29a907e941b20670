/** How much each scenario does: `--quick` (smoke run, < 4 min with builds) or the full run (bounded, < 15 min). */

export interface WarmProfile {
  /** Open-loop rates, requests per second. */
  readonly rates: readonly number[];
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Runs per rate and target (A, C, B), the order changing from run to run to cancel drift. */
  readonly repeats: number;
  readonly saturation: { readonly connections: number; readonly warmupMs: number; readonly durationMs: number; readonly repeats: number };
}

export interface ColdProfile {
  readonly startupMs: number;
  /** Concurrent requests per burst. */
  readonly sizes: readonly number[];
  /** Bursts after the first wake of each function (the poll schedule uses what it learned). */
  readonly learnedRounds: number;
  /** Delivery-floor bursts per size and path (the floor is their median). */
  readonly floorRuns: number;
  /** Also measure the floor through Envoy alone (no ext_proc), for reference. */
  readonly floorAlone: boolean;
  /** Extra first wakes of one request each, every one on a new faas-waker process (more detect-lag samples). */
  readonly firstWakeSingles: number;
}

export interface ManyProfile {
  readonly functions: number;
  readonly startupMs: number;
}

export interface HeldProfile {
  readonly functions: number;
  readonly perFunction: number;
  readonly startupMs: number;
  /** Function i starts after startupMs + i * staggerMs, so the release does not open every socket at once. */
  readonly staggerMs: number;
  readonly streamsPerConnection: number;
  readonly sampleEveryMs: number;
}

export interface KubeProfile {
  /** Held requests per burst (one HTTP/1.1 connection each). */
  readonly n: number;
  /** kwok's per-pod ready delay: the function's start-up once its pod is scheduled. */
  readonly readyDelayMs: number;
  /** Bursts after the first, each after a scale to zero made with the API. */
  readonly learnedRounds: number;
  /** Warm requests afterwards (closed loop): faas-waker's API calls while they run. */
  readonly warmMs: number;
  readonly warmConnections: number;
}

/** Every scenario, in the order of a full run. */
export const SCENARIOS = ['warm', 'cold', 'held', 'kube'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface Profile {
  readonly name: 'quick' | 'full';
  readonly warm: WarmProfile;
  readonly cold: ColdProfile;
  readonly many: ManyProfile;
  readonly held: HeldProfile;
  readonly kube: KubeProfile;
}

export const QUICK: Profile = {
  name: 'quick',
  warm: {
    rates: [200, 1000, 3000],
    warmupMs: 500,
    durationMs: 2000,
    repeats: 1,
    saturation: { connections: 32, warmupMs: 500, durationMs: 3000, repeats: 1 },
  },
  cold: { startupMs: 1000, sizes: [100, 300], learnedRounds: 1, floorRuns: 1, floorAlone: true, firstWakeSingles: 2 },
  many: { functions: 200, startupMs: 1000 },
  held: { functions: 100, perFunction: 100, startupMs: 10_000, staggerMs: 30, streamsPerConnection: 100, sampleEveryMs: 100 },
  kube: { n: 1000, readyDelayMs: 1000, learnedRounds: 1, warmMs: 1000, warmConnections: 4 },
};

export const FULL: Profile = {
  name: 'full',
  warm: {
    rates: [200, 1000, 3000],
    warmupMs: 1000,
    durationMs: 5000,
    repeats: 2,
    saturation: { connections: 32, warmupMs: 1000, durationMs: 5000, repeats: 2 },
  },
  cold: { startupMs: 1000, sizes: [100, 1000], learnedRounds: 2, floorRuns: 3, floorAlone: true, firstWakeSingles: 4 },
  many: { functions: 200, startupMs: 1000 },
  held: { functions: 100, perFunction: 100, startupMs: 15_000, staggerMs: 50, streamsPerConnection: 100, sampleEveryMs: 100 },
  kube: { n: 1000, readyDelayMs: 1000, learnedRounds: 2, warmMs: 3000, warmConnections: 4 },
};
