/** A compact live view of the demo's three processes: Envoy's access log, faas-waker's wake and
 * rejection events, and the local provider's scale/start/ready events. Reads the children's output
 * that dev/stack already collects; never writes to the children. */
import type { Child } from '../stack/child';
import { jsonLine } from '../stack/child';

export interface LiveLog {
  /** Waits briefly for lines still in flight (Envoy flushes its access log in batches). */
  settle(): Promise<void>;
  stop(): void;
}

type Format = (line: string) => string | undefined;

const POLL_MS = 100;
const SETTLE_MS = 300;

export function followLogs(children: { provider: Child; waker: Child; envoy: Child }): LiveLog {
  const sources: [Child, Format][] = [
    [children.envoy, formatEnvoy],
    [children.waker, formatWaker],
    [children.provider, formatProvider],
  ];
  // Start after what was printed during start-up: those lines are not news.
  const seen = sources.map(([child]) => child.lines.length);
  const drain = (): void => {
    sources.forEach(([child, format], i) => {
      const from = seen[i] ?? 0;
      const lines = child.lines.slice(from);
      seen[i] = from + lines.length;
      for (const line of lines) {
        const text = format(line);
        if (text !== undefined) process.stdout.write(`${text}\n`);
      }
    });
  };
  const timer = setInterval(drain, POLL_MS);
  timer.unref();
  return {
    settle: () =>
      new Promise<void>((resolve) => {
        setTimeout(() => {
          drain();
          resolve();
        }, SETTLE_MS);
      }),
    stop: () => {
      clearInterval(timer);
      drain();
    },
  };
}

function formatEnvoy(line: string): string | undefined {
  return `  envoy      | ${line}`;
}

/** faas-waker logs JSON (pino); show the events that explain a request's fate. */
function formatWaker(line: string): string | undefined {
  const json = jsonLine(line);
  if (json === undefined) return `  faas-waker | ${line}`;
  const event = typeof json.event === 'string' ? json.event : '';
  if (event === 'config' || event === 'ready') return undefined;
  const fields = ['fn', 'waitedMs', 'coldStart', 'scaled', 'waiters', 'status', 'code', 'providerStatus', 'err', 'signal']
    .filter((k) => json[k] !== undefined)
    .map((k) => `${k}=${typeof json[k] === 'string' ? json[k] : JSON.stringify(json[k])}`);
  const msg = typeof json.msg === 'string' ? json.msg : '';
  return `  faas-waker | ${event.padEnd(16)} ${msg}${fields.length > 0 ? `  ${fields.join(' ')}` : ''}`;
}

/** The local provider prints JSON events: scale, start, ready, exit. */
function formatProvider(line: string): string | undefined {
  const json = jsonLine(line);
  if (json === undefined) return `  provider   | ${line}`;
  const { event, readyAtMs: _readyAt, ...rest } = json;
  return `  provider   | ${String(event).padEnd(16)} ${Object.entries(rest)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(' ')}`;
}
