/** CLI of the local provider: `node build/dev/provider/main.js --port 8080 --function hello:1000`.
 * stdout carries only JSON event lines (the first is `{"event":"listening","port":N}`), so scripts
 * can parse it; problems go to stderr. */
import { parseArgs } from 'node:util';
import { startLocalProvider, type LocalProvider, type LocalProviderOptions } from './provider';
import { functionKey, parseMetadata, parseSpec, withMetadata, type FunctionSpec, type MetadataKind } from './spec';

const USAGE = `usage: main.js [--port 8080] [--host 127.0.0.1]
  [--function name[.ns]:delayMs|never|gate[:minScale][:listen-delay=MS]]...
  [--function-label name[.ns]:key=value]... [--function-annotation name[.ns]:key=value]...
  [--default-namespace openfaas-fn] [--auth user:password] [--scale-status 200|202]
  [--functions-count N --functions-prefix fn- --functions-delay 1000] [--function-entry path]

  --function hello:300                      ready (and listening) 300 ms after a scale from zero
  --function gap:300:listen-delay=500       reports availableReplicas at 300 ms, accepts connections only
                                            500 ms (+ its start-up) later; meanwhile /function/gap answers 500
  --function-label hello:com.openfaas.scale.min=2
  --function-annotation hello:com.openfaas.ready.http.path=/_/ready
                                            reported in GET /system/function/NAME and /system/functions
                                            (repeatable; the function must be given with --function)`;

function emit(event: string, fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

function parseCli(argv: string[]): LocalProviderOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      function: { type: 'string', multiple: true, default: [] },
      'function-label': { type: 'string', multiple: true, default: [] },
      'function-annotation': { type: 'string', multiple: true, default: [] },
      'default-namespace': { type: 'string', default: 'openfaas-fn' },
      auth: { type: 'string' },
      'scale-status': { type: 'string', default: '202' },
      'functions-count': { type: 'string', default: '0' },
      'functions-prefix': { type: 'string', default: 'fn-' },
      'functions-delay': { type: 'string', default: '1000' },
      'function-entry': { type: 'string' },
    },
  });
  const problems: string[] = [];
  const int = (flag: string, text: string): number => {
    if (/^\d+$/.test(text)) return Number(text);
    problems.push(`--${flag}: want an integer >= 0, got ${JSON.stringify(text)}`);
    return 0;
  };
  const namespace = values['default-namespace'];
  const port = int('port', values.port);
  const scaleStatus = values['scale-status'];
  if (scaleStatus !== '200' && scaleStatus !== '202') problems.push(`--scale-status: want 200 or 202, got ${JSON.stringify(scaleStatus)}`);
  const auth = values.auth === undefined ? null : parseAuth(values.auth, problems);
  const specs = [...values.function];
  const count = int('functions-count', values['functions-count']);
  const delay = values['functions-delay'];
  for (let i = 0; i < count; i += 1) specs.push(`${values['functions-prefix']}${i}:${delay}`);
  const parsed = specs.flatMap((text): FunctionSpec[] => {
    try {
      return [parseSpec(text, namespace)];
    } catch (err) {
      problems.push(`--function: ${(err as Error).message}`);
      return [];
    }
  });
  const labelled = attachMetadata(parsed, 'labels', values['function-label'], namespace, problems);
  const functions = attachMetadata(labelled, 'annotations', values['function-annotation'], namespace, problems);
  if (problems.length > 0) throw new Error(`${problems.join('\n')}\n${USAGE}`);
  const entry = values['function-entry'];
  return {
    port,
    host: values.host,
    defaultNamespace: namespace,
    functions,
    auth,
    scaleStatus: scaleStatus === '200' ? 200 : 202,
    ...(entry === undefined ? {} : { functionEntry: entry }),
    log: emit,
  };
}

/** Applies `--function-label` / `--function-annotation` values to the specs they name. */
function attachMetadata(
  specs: FunctionSpec[],
  kind: MetadataKind,
  texts: readonly string[],
  namespace: string,
  problems: string[],
): FunctionSpec[] {
  const flag = kind === 'labels' ? '--function-label' : '--function-annotation';
  const known = new Set(specs.map(functionKey));
  const entries = texts.flatMap((text) => {
    try {
      const entry = parseMetadata(text, namespace);
      if (known.has(functionKey(entry.address))) return [entry];
      problems.push(`${flag}: no --function ${functionKey(entry.address)}`);
    } catch (err) {
      problems.push(`${flag}: ${(err as Error).message}`);
    }
    return [];
  });
  // Duplicate specs stay duplicates: startLocalProvider reports them.
  return specs.map((spec) =>
    entries.filter((e) => functionKey(e.address) === functionKey(spec)).reduce((out, e) => withMetadata(out, kind, e.key, e.value), spec),
  );
}

function parseAuth(text: string, problems: string[]): { user: string; password: string } | null {
  const colon = text.indexOf(':');
  if (colon > 0) return { user: text.slice(0, colon), password: text.slice(colon + 1) };
  problems.push('--auth: want user:password');
  return null;
}

/** First signal: stop children and exit 0. A second one exits at once ('exit' still kills children). */
function stopOnSignals(provider: LocalProvider): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(1);
    stopping = true;
    emit('stopping', { signal });
    provider.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`close failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function main(): Promise<void> {
  // A reader that closed our stdout must not crash the provider (EPIPE).
  process.stdout.on('error', () => undefined);
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  let opts: LocalProviderOptions;
  try {
    opts = parseCli(args);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const provider = await startLocalProvider(opts);
  stopOnSignals(provider);
  emit('listening', { port: provider.port });
}

main().catch((err: unknown) => {
  process.stderr.write(`local provider failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
