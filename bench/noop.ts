/**
 * The no-op ext_proc floor: bench/noop-extproc (Go, grpc-go + go-control-plane), built by
 * scripts/bench.mjs into build/noop-extproc/noop-extproc. It answers CONTINUE to request_headers and
 * serves grpc.health.v1, so the shipped Envoy config runs against it unchanged.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { jsonLine, startChild, type Child } from '../dev/stack/child';
import { repoRoot } from '../dev/stack/repo';
import type { Scope } from './scope';

/** Where scripts/bench.mjs puts the binary (build/ is git-ignored). */
export const NOOP_BINARY = join('build', 'noop-extproc', 'noop-extproc');
/** Backstop: the server stops by itself after this long even if the benchmark dies without stopping it. */
const MAX_LIFETIME = '30m';

export interface NoopServer {
  readonly grpcPort: number;
  readonly child: Child;
  /** GOMAXPROCS the Go runtime chose (the number of cores unless the environment sets it). */
  readonly gomaxprocs: number | null;
  /** With `hold`: the epoch ms of each release so far (printed just before the first answer went out). */
  releases(): number[];
}

/** The release floor: hold request_headers until `n` streams wait, then answer them all at once `releaseAfterMs` later. */
export interface NoopHold {
  readonly n: number;
  readonly releaseAfterMs: number;
}

export async function startNoopExtProc(scope: Scope, hold?: NoopHold): Promise<NoopServer> {
  const binary = join(repoRoot(), NOOP_BINARY);
  if (!existsSync(binary)) throw new Error(`${NOOP_BINARY} is missing: run \`npm run bench\` (it builds bench/noop-extproc with Go)`);
  const holdArgs = hold === undefined ? [] : ['-hold', String(hold.n), '-release-after', `${hold.releaseAfterMs}ms`];
  const child = startChild(binary, ['-listen', '127.0.0.1:0', '-max-lifetime', MAX_LIFETIME, ...holdArgs], {
    name: 'noop-extproc',
    env: { PATH: process.env.PATH ?? '' },
  });
  scope.add(() => child.stop('SIGTERM', 3_000));
  const ready = await child.waitFor(
    (line) => {
      const json = jsonLine(line);
      return json?.event === 'ready'
        ? { port: Number(json.grpcPort), gomaxprocs: typeof json.gomaxprocs === 'number' ? json.gomaxprocs : null }
        : undefined;
    },
    15_000,
    'noop-extproc ready',
  );
  return {
    grpcPort: ready.port,
    child,
    gomaxprocs: ready.gomaxprocs,
    releases: () => child.lines.map(jsonLine).flatMap((l) => (l?.event === 'released' && typeof l.atMs === 'number' ? [l.atMs] : [])),
  };
}
