/**
 * Is the machine quiet enough to benchmark? Other work on a 2-core machine changes every figure, so
 * the benchmark looks before it starts: CPU busy over a short window (and who is using it), and the
 * load average.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { cpuClock, machineTicks } from './procfs';

/** Busy share of all cores over the window above which the machine is not quiet. */
export const BUSY_LIMIT_PCT = 15;
/** 1-minute load average per core above which the machine is not quiet (our own builds just before stay below it). */
export const LOAD_PER_CORE_LIMIT = 0.75;
const WINDOW_MS = 2_000;
/** How long to wait for a high load average to fall while the CPU is idle now (it decays with a 1-minute time constant). */
const LOAD_WAIT_MS = 60_000;
const LOAD_RECHECK_MS = 5_000;

/** The machine failed the quiet check and --force was not given: the benchmark refuses to run. */
export class MachineBusyError extends Error {
  override readonly name = 'MachineBusyError';
}

export interface BusyProcess {
  readonly pid: number;
  readonly name: string;
  /** % of one core over the window. */
  readonly cpu_pct: number;
}

export interface QuietCheck {
  readonly window_ms: number;
  /** % of all cores busy over the window. */
  readonly busy_pct: number;
  readonly busy_limit_pct: number;
  /** 1, 5 and 15 minute load averages. */
  readonly load_avg: readonly number[];
  readonly load_limit: number;
  /** The processes that used the most CPU over the window (at least 1 % of one core). */
  readonly top: BusyProcess[];
  readonly quiet: boolean;
  /** Why it is not quiet (empty when it is). */
  readonly reasons: string[];
}

export async function checkQuiet(windowMs: number, cores: number): Promise<QuietCheck> {
  const clock = cpuClock();
  const a = machineTicks();
  const procsBefore = processTicks();
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const seconds = (performance.now() - t0) / 1000;
  const b = machineTicks();
  const procsAfter = processTicks();
  const total = b.total - a.total;
  const busy = total > 0 ? Math.round((1000 * (b.busy - a.busy)) / total) / 10 : 0;
  const top: BusyProcess[] = [];
  for (const [pid, after] of procsAfter) {
    if (pid === process.pid) continue;
    // A process born inside the window spent all its CPU in it; one that ended inside it is missed.
    const before = procsBefore.get(pid)?.ticks ?? 0;
    const pct = Math.round((1000 * (after.ticks - before)) / clock.ticksPerSecond / seconds) / 10;
    if (pct >= 1) top.push({ pid, name: after.name, cpu_pct: pct });
  }
  top.sort((x, y) => y.cpu_pct - x.cpu_pct);
  const load = loadavg().map((x) => Math.round(x * 100) / 100);
  const loadLimit = LOAD_PER_CORE_LIMIT * cores;
  const reasons: string[] = [];
  if (busy > BUSY_LIMIT_PCT) reasons.push(`${busy}% of all cores busy over ${(windowMs / 1000).toFixed(0)} s (limit ${BUSY_LIMIT_PCT}%)`);
  if ((load[0] ?? 0) > loadLimit) reasons.push(`1-minute load average ${load[0]} (limit ${loadLimit} on ${cores} cores)`);
  return {
    window_ms: windowMs,
    busy_pct: busy,
    busy_limit_pct: BUSY_LIMIT_PCT,
    load_avg: load,
    load_limit: loadLimit,
    top: top.slice(0, 5),
    quiet: reasons.length === 0,
    reasons,
  };
}

/** One line for a person: who keeps the machine busy. */
export function describeTop(top: readonly BusyProcess[]): string {
  return top.length === 0 ? 'no single process above 1% of a core' : top.map((p) => `${p.name} (pid ${p.pid}) ${p.cpu_pct}%`).join(', ');
}

/** pid → name and utime + stime ticks of every process. */
function processTicks(): Map<number, { name: string; ticks: number }> {
  const out = new Map<number, { name: string; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const open = stat.indexOf('(');
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      out.set(Number(entry), { name: stat.slice(open + 1, close), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * The check before a run. Quiet: returns it. Busy CPU: throws with the reasons and the busiest
 * processes, unless `force` (then warns loudly and returns it: the run is marked noisy). A high load
 * average alone, with the CPU idle now (a run or build that just ended), is waited out for up to 60 s.
 */
export async function quietOrForced(cores: number, force: boolean, log: (line: string) => void): Promise<QuietCheck> {
  let check = await checkQuiet(WINDOW_MS, cores);
  const deadline = performance.now() + LOAD_WAIT_MS;
  while (!force && !check.quiet && check.busy_pct <= check.busy_limit_pct && performance.now() < deadline) {
    log(
      `1-minute load average ${check.load_avg[0]} is above ${check.load_limit} while the CPU is idle now: waiting for it to fall (up to ${LOAD_WAIT_MS / 1000} s)`,
    );
    await new Promise((resolve) => setTimeout(resolve, LOAD_RECHECK_MS));
    check = await checkQuiet(WINDOW_MS, cores);
  }
  if (check.quiet) return check;
  const detail = `${check.reasons.join('; ')}. Busiest processes: ${describeTop(check.top)}.`;
  if (!force) {
    throw new MachineBusyError(
      `the machine is not quiet: ${detail}\nFigures from a busy machine are not results. Wait until it is quiet (other builds and tests done, load average down), or run with --force to measure anyway (the results are then marked noisy).`,
    );
  }
  const rule = 'WARNING ************************************************************';
  log(rule);
  log(`WARNING: --force: running on a busy machine: ${detail}`);
  log('WARNING: every figure of this run is noisy; the results are marked "noisy" and are not the real results.');
  log(rule);
  return check;
}
