import { parseDuration } from '../config/parse';
import { NO_POLICY, POLICY_KEYS, type FunctionPolicy } from './policy';

/** Bounds a policy must respect. */
export interface PolicyLimits {
  /** Largest hold a function may ask for: Envoy's max_message_timeout minus the override margin. */
  readonly maxHoldTimeoutMs: number;
}

/** One value that was ignored (or clamped), for the caller to log once. */
export interface PolicyProblem {
  readonly key: string;
  readonly value: string;
  readonly problem: string;
}

/** At most this many no-wake prefixes per function, each at most this long: a label is not a config file. */
export const MAX_NO_WAKE_PATHS = 32;
export const MAX_POLICY_PATH_LENGTH = 256;

/** A path as it appears in a request line: starts with '/', printable ASCII, no query, fragment or spaces. */
const PATH = /^\/[!$&'()*+,\-./0-9:;=@A-Z_a-z~%]*$/;

/**
 * A function's policy from its labels and annotations (annotations win over labels: both carry
 * faas-waker/* keys, as OpenFaaS users set either). Pure and total: any input gives a policy within
 * `limits`; every value that was not taken as written is reported through `onInvalid`.
 */
export function policyFrom(
  labels: Readonly<Record<string, string>> | undefined,
  annotations: Readonly<Record<string, string>> | undefined,
  limits: PolicyLimits,
  onInvalid: (problem: PolicyProblem) => void,
): FunctionPolicy {
  const read = (key: string): string | undefined => own(annotations, key) ?? own(labels, key);
  const report = (key: string, value: string, problem: string): void => onInvalid({ key, value: value.slice(0, 200), problem });

  const holdTimeoutMs = holdTimeout(read(POLICY_KEYS.holdTimeout), limits, (value, problem) =>
    report(POLICY_KEYS.holdTimeout, value, problem),
  );
  // faas-waker's own key first: it is the one a user sets for faas-waker on purpose.
  const readyKey = read(POLICY_KEYS.readyPath) !== undefined ? POLICY_KEYS.readyPath : POLICY_KEYS.readyPathOpenFaaS;
  const readyPath = path(read(readyKey), (value, problem) => report(readyKey, value, problem));
  const waitingPage = onOff(read(POLICY_KEYS.waitingPage), (value, problem) => report(POLICY_KEYS.waitingPage, value, problem));
  const noWakePaths = prefixes(read(POLICY_KEYS.noWakePaths), (value, problem) => report(POLICY_KEYS.noWakePaths, value, problem));

  if (holdTimeoutMs === undefined && readyPath === undefined && waitingPage === undefined && noWakePaths.length === 0) return NO_POLICY;
  return Object.freeze({ holdTimeoutMs, readyPath, waitingPage, noWakePaths: Object.freeze(noWakePaths) });
}

type Report = (value: string, problem: string) => void;

/** Own string properties only: a label named `__proto__` or `constructor` is just a label. */
function own(map: Readonly<Record<string, string>> | undefined, key: string): string | undefined {
  if (map === undefined || !Object.prototype.hasOwnProperty.call(map, key)) return undefined;
  const value = map[key];
  return typeof value === 'string' ? value : undefined;
}

function holdTimeout(value: string | undefined, limits: PolicyLimits, report: Report): number | undefined {
  if (value === undefined) return undefined;
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (err) {
    report(value, `expected ${(err as Error).message}`);
    return undefined;
  }
  if (!Number.isFinite(ms) || ms < 1) {
    report(value, 'must be at least 1ms');
    return undefined;
  }
  const max = Math.max(1, Math.floor(limits.maxHoldTimeoutMs));
  if (ms > max) {
    report(value, `larger than WAKER_ENVOY_MAX_MESSAGE_TIMEOUT allows: clamped to ${max}ms`);
    return max;
  }
  return ms;
}

function path(value: string | undefined, report: Report): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed.length > MAX_POLICY_PATH_LENGTH || !PATH.test(trimmed)) {
    report(value, "expected a path starting with '/' (no query, no spaces)");
    return undefined;
  }
  return trimmed;
}

function onOff(value: string | undefined, report: Report): boolean | undefined {
  if (value === undefined) return undefined;
  const word = value.trim().toLowerCase();
  if (word === 'on' || word === 'true') return true;
  if (word === 'off' || word === 'false') return false;
  report(value, 'expected on or off');
  return undefined;
}

/** Comma-separated prefixes; a bad one is dropped alone, the good ones still apply. */
function prefixes(value: string | undefined, report: Report): string[] {
  if (value === undefined) return [];
  const out: string[] = [];
  for (const part of value.split(',')) {
    const prefix = part.trim();
    if (prefix === '') continue;
    if (prefix.length > MAX_POLICY_PATH_LENGTH || !PATH.test(prefix)) {
      report(value, `${JSON.stringify(prefix.slice(0, 80))}: expected a path prefix starting with '/'`);
      continue;
    }
    if (out.length >= MAX_NO_WAKE_PATHS) {
      report(value, `more than ${MAX_NO_WAKE_PATHS} prefixes: the rest are ignored`);
      break;
    }
    if (!out.includes(prefix)) out.push(prefix);
  }
  return out;
}

/**
 * Whether a request's function path (the part after `/function/NAME`, query excluded; `/` when empty)
 * starts with one of the no-wake prefixes. Plain prefixes: `/health` matches `/healthz` too.
 */
export function isNoWakePath(functionPath: string, prefixesList: readonly string[]): boolean {
  for (const prefix of prefixesList) if (functionPath.startsWith(prefix)) return true;
  return false;
}
