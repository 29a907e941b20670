import { isDnsLabel } from '../routing/function-ref';

/** Value parsers for settings. Each returns the parsed value or throws an Error whose message completes "expected ...". */

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `250ms`, `2s`, `1.5s`, `1m`, `1h` → milliseconds. A bare number is refused: units are never guessed. */
export function parseDuration(text: string): number {
  const match = DURATION.exec(text.trim());
  const unit = match?.[2];
  if (match === null || unit === undefined) throw new Error('a duration such as 250ms, 2s or 1m');
  return Math.round(Number(match[1]) * (UNIT_MS[unit] ?? 1));
}

export function parsePositiveInt(text: string): number {
  const value = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < 1) throw new Error('a positive integer');
  return value;
}

export function parseUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new Error('an http(s) URL such as http://127.0.0.1:8080');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('an http(s) URL');
  if (url.username || url.password) throw new Error('a URL without credentials (use WAKER_PROVIDER_USER/PASSWORD)');
  return url.origin + url.pathname.replace(/\/+$/, '');
}

/** `host:port`, `[::1]:port` or `unix:/path`; port 0 means "pick a free one" (tests). */
export function parseListenAddress(text: string): string {
  const value = text.trim();
  if (value.startsWith('unix:')) return value;
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(value);
  if (match === null || Number(match[2]) > 65535) throw new Error('host:port, [ipv6]:port or unix:/path');
  return value;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function parseLogLevel(text: string): LogLevel {
  const level = LOG_LEVELS.find((l) => l === text.trim());
  if (level === undefined) throw new Error(`one of ${LOG_LEVELS.join(', ')}`);
  return level;
}

/** Comma-separated path prefixes; each must start and end with '/'. */
export function parsePrefixes(text: string): string[] {
  const prefixes = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  if (prefixes.length === 0 || prefixes.some((p) => !/^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*\/$/.test(p))) {
    throw new Error('comma-separated path prefixes such as /function/,/async-function/');
  }
  return prefixes;
}

export function parseNamespace(text: string): string {
  const value = text.trim();
  if (!isDnsLabel(value)) throw new Error('a DNS-1123 label such as openfaas-fn');
  return value;
}

export function parseText(text: string): string {
  if (text.length === 0) throw new Error('a non-empty value');
  return text;
}

export type ProviderKind = 'openfaas' | 'kubernetes';

export function parseProviderKind(text: string): ProviderKind {
  const value = text.trim();
  if (value !== 'openfaas' && value !== 'kubernetes') throw new Error('openfaas or kubernetes');
  return value;
}

/** Comma-separated namespaces, each a DNS-1123 label. */
export function parseNamespaces(text: string): string[] {
  const names = text
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n.length > 0);
  if (names.length === 0 || names.some((n) => !isDnsLabel(n)))
    throw new Error('comma-separated DNS-1123 labels such as openfaas-fn,staging');
  return [...new Set(names)];
}

/** `true`/`false` (also `on`/`off`, `1`/`0`, `yes`/`no`): a switch. */
export function parseBool(text: string): boolean {
  const value = text.trim().toLowerCase();
  if (['true', 'on', '1', 'yes'].includes(value)) return true;
  if (['false', 'off', '0', 'no'].includes(value)) return false;
  throw new Error('true or false');
}

/** The URL template (see parseUrlTemplate) with its placeholders filled. */
export function fillUrlTemplate(template: string, name: string, namespace: string, path: string): string {
  return template.replaceAll('{name}', name).replaceAll('{namespace}', namespace).replaceAll('{path}', path);
}

/**
 * A URL template with `{name}`, `{namespace}` and `{path}` placeholders, e.g.
 * `http://gateway:8080/function/{name}.{namespace}{path}`. Only http(s); `{name}` is required so
 * one template cannot probe the same URL for every function.
 */
export function parseUrlTemplate(text: string): string {
  const value = text.trim();
  if (!value.includes('{name}'))
    throw new Error('an http(s) URL template with {name}, e.g. http://gateway:8080/function/{name}.{namespace}{path}');
  const sample = fillUrlTemplate(value, 'f', 'ns', '/');
  let url: URL;
  try {
    url = new URL(sample);
  } catch {
    throw new Error('an http(s) URL template such as http://gateway:8080/function/{name}.{namespace}{path}');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('an http(s) URL template');
  if (url.username || url.password) throw new Error('a URL template without credentials');
  if (/\{(?!name\}|namespace\}|path\})[^}]*\}/.test(value)) throw new Error('only the placeholders {name}, {namespace} and {path}');
  return value;
}

/** A URL path such as `/_/ready`: starts with '/', no query-breaking characters. */
export function parseUrlPath(text: string): string {
  const value = text.trim();
  if (!/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$/.test(value))
    throw new Error('a URL path such as /_/ready');
  return value;
}
