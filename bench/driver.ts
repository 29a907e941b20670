/** Driver side of the load generator: runs one spec in a child process and samples the CPU of
 * the processes under test over exactly the child's measured window. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonLine, startChild } from '../dev/stack/child';
import { repoRoot } from '../dev/stack/repo';
import type { BurstResult, BurstSpec, LoadResult, LoadSpec } from './loadgen-types';
import { cpuBetween, snapshotCpu, type CpuClock, type CpuSnapshot } from './procfs';
import type { Scope } from './scope';

export interface Measured<R> {
  readonly result: R;
  /** % of one core per named process over the measured window (includes `loadgen` and `machine`). */
  readonly cpu: Record<string, number>;
}

export interface Driver {
  /** `pids`: processes to sample by name; `childrenOf`: group name → parent pid whose children are summed (function processes). */
  load(
    spec: Exclude<LoadSpec, BurstSpec>,
    pids: Record<string, number>,
    childrenOf?: Record<string, number>,
  ): Promise<Measured<LoadResult>>;
  burst(spec: BurstSpec, pids: Record<string, number>, childrenOf?: Record<string, number>): Promise<Measured<BurstResult>>;
}

/** Longest a run can take: its own duration plus request timeouts plus start-up slack. */
function boundMs(spec: LoadSpec): number {
  const slack = 30_000;
  return spec.mode === 'burst' ? spec.timeoutMs + slack : spec.warmupMs + spec.durationMs + spec.timeoutMs + slack;
}

export function createDriver(scope: Scope, clock: CpuClock): Driver {
  const entry = join(repoRoot(), 'build', 'bench', 'loadgen.js');
  const run = async <R>(spec: LoadSpec, pids: Record<string, number>, childrenOf: Record<string, number> = {}): Promise<Measured<R>> => {
    const dir = mkdtempSync(join(tmpdir(), 'faas-waker-bench-'));
    const specPath = join(dir, 'spec.json');
    const resultPath = join(dir, 'result.json');
    writeFileSync(specPath, JSON.stringify(spec));
    const child = startChild(process.execPath, [entry, specPath, resultPath], { name: 'loadgen' });
    const release = scope.add(() => child.stop('SIGKILL'));
    try {
      const pid = child.proc.pid;
      if (pid === undefined) throw new Error('loadgen did not start');
      const all = { ...pids, loadgen: pid, driver: process.pid };
      const event = (name: string) => (line: string) => (jsonLine(line)?.event === name ? true : undefined);
      const limit = boundMs(spec);
      await child.waitFor(event('measuring'), limit, 'loadgen measuring');
      const before: CpuSnapshot = snapshotCpu(all, childrenOf);
      await child.waitFor(event('done'), limit, 'loadgen done');
      const after = snapshotCpu(all, childrenOf);
      const code = await child.exited;
      if (code !== 0) throw new Error(`loadgen exited with ${code}:\n${child.lines.slice(-20).join('\n')}`);
      const result = JSON.parse(readFileSync(resultPath, 'utf8')) as R;
      return { result, cpu: cpuBetween(clock, before, after) };
    } finally {
      await release();
      rmSync(dir, { recursive: true, force: true });
    }
  };
  return {
    load: (spec, pids, childrenOf) => run<LoadResult>(spec, pids, childrenOf),
    burst: (spec, pids, childrenOf) => run<BurstResult>(spec, pids, childrenOf),
  };
}
