/** Linux /proc readings for the processes under test: CPU time and resident memory. */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export interface CpuClock {
  /** Clock ticks per second of /proc/<pid>/stat (getconf CLK_TCK, usually 100). */
  readonly ticksPerSecond: number;
  readonly cores: number;
}

export function cpuClock(): CpuClock {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const value = Number(out.stdout.trim());
  return { ticksPerSecond: Number.isFinite(value) && value > 0 ? value : 100, cores: cpus().length };
}

/** utime + stime of `pid` in ticks, or null when the process is gone. */
export function cpuTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // fields 14 and 15 of proc(5)
  } catch {
    return null;
  }
}

/** Busy, interrupt (irq + softirq: loopback networking lands there) and total ticks of the whole machine from /proc/stat. */
export function machineTicks(): { busy: number; irq: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const at = (i: number): number => v[i] ?? 0;
  const total = at(0) + at(1) + at(2) + at(3) + at(4) + at(5) + at(6) + at(7);
  const idle = at(3) + at(4);
  return { busy: total - idle, irq: at(5) + at(6), total };
}

/** VmRSS and VmHWM (peak) of `pid` in MiB, or null when the process is gone. */
export function memoryMb(pid: number): { rssMb: number; peakMb: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
  } catch {
    return null;
  }
}

/**
 * TcpExt ListenOverflows from /proc/net/netstat: connections dropped because a listening socket's
 * accept queue was full (machine-wide). A dropped SYN is retried by the client after 1 s.
 */
export function listenOverflows(): number | null {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const names = (lines[i] ?? '').split(/\s+/);
      const values = (lines[i + 1] ?? '').split(/\s+/);
      if (names[0] !== 'TcpExt:') continue;
      const at = names.indexOf('ListenOverflows');
      return at < 0 ? null : Number(values[at]);
    }
    return null;
  } catch {
    return null;
  }
}

/** Open file descriptors of `pid`, or null when the process is gone. */
export function openFiles(pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

export interface CpuSnapshot {
  readonly atMs: number;
  readonly ticks: Record<string, number | null>;
  /** Per group: ticks of each child process (by pid) of the group's parent. */
  readonly children: Record<string, Map<number, number>>;
  readonly machine: { busy: number; irq: number; total: number };
}

/** pid → ticks of every process whose parent is `parent` (function processes started by the provider). */
export function childTicks(parent: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === parent) out.set(Number(entry), Number(fields[11]) + Number(fields[12]));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** `pids`: processes by name; `childrenOf`: group name → parent pid whose children are summed (they come and go). */
export function snapshotCpu(pids: Record<string, number>, childrenOf: Record<string, number> = {}): CpuSnapshot {
  const ticks: Record<string, number | null> = {};
  for (const [name, pid] of Object.entries(pids)) ticks[name] = cpuTicks(pid);
  const children: Record<string, Map<number, number>> = {};
  for (const [name, parent] of Object.entries(childrenOf)) children[name] = childTicks(parent);
  return { atMs: performance.now(), ticks, children, machine: machineTicks() };
}

/**
 * CPU used between two snapshots, in % of one core per process (100 = one core busy), plus
 * `machine` = % of all cores busy, `irq` = % of one core in interrupt/softirq context (mostly
 * loopback networking, charged to no process), and `others` = % of one core used by processes not
 * listed: a noisy neighbour (another test run) shows up there.
 */
export function cpuBetween(clock: CpuClock, a: CpuSnapshot, b: CpuSnapshot): Record<string, number> {
  const seconds = (b.atMs - a.atMs) / 1000;
  const out: Record<string, number> = {};
  for (const [name, before] of Object.entries(a.ticks)) {
    const after = b.ticks[name];
    if (before === null || after === null || after === undefined || seconds <= 0) continue;
    out[name] = round1((100 * (after - before)) / clock.ticksPerSecond / seconds);
  }
  for (const [name, later] of Object.entries(b.children)) {
    const earlier = a.children[name] ?? new Map<number, number>();
    let ticks = 0;
    // Children born inside the window count from 0; children that exited inside it are missed (rare: scale-downs).
    for (const [pid, value] of later) ticks += value - (earlier.get(pid) ?? 0);
    if (seconds > 0) out[name] = round1((100 * ticks) / clock.ticksPerSecond / seconds);
  }
  const total = b.machine.total - a.machine.total;
  if (total > 0) {
    const machine = (100 * (b.machine.busy - a.machine.busy)) / total;
    const irq = (100 * clock.cores * (b.machine.irq - a.machine.irq)) / total;
    let ours = 0;
    for (const value of Object.values(out)) ours += value;
    out.machine = round1(machine);
    out.irq = round1(irq);
    out.others = round1(Math.max(0, machine * clock.cores - ours - irq));
  }
  return out;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
