/** Load-generator child: `node build/bench/loadgen.js <spec.json> <result.json>`. Runs in its own
 * process so its CPU is measured apart from the servers (on 2 cores it still competes with them).
 * Prints `{"event":"measuring"}` when the measured window starts and `{"event":"done"}` at the end. */
import { readFileSync, writeFileSync } from 'node:fs';
import { runBurst } from './burst';
import type { LoadSpec } from './loadgen-types';
import { runClosed, runRate } from './open-loop';

/** Whatever happens, this process ends: every run is bounded by its spec, and this is the backstop. */
const HARD_LIMIT_MS = 10 * 60_000;

function emit(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

async function main(): Promise<void> {
  const [specPath, resultPath] = process.argv.slice(2);
  if (specPath === undefined || resultPath === undefined) throw new Error('usage: loadgen.js <spec.json> <result.json>');
  setTimeout(() => {
    process.stderr.write('loadgen: hard time limit reached\n');
    process.exit(3);
  }, HARD_LIMIT_MS).unref();
  const spec = JSON.parse(readFileSync(specPath, 'utf8')) as LoadSpec;
  const onMeasuring = (): void => emit('measuring');
  const result =
    spec.mode === 'rate'
      ? await runRate(spec, onMeasuring)
      : spec.mode === 'closed'
        ? await runClosed(spec, onMeasuring)
        : await runBurst(spec, onMeasuring);
  writeFileSync(resultPath, JSON.stringify(result));
  emit('done');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`loadgen failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
