/** Parsing of function specs (`name[.namespace]:startDelayMs|never|gate[:minScale][:listen-delay=MS]`), of
 * label/annotation flags (`name[.namespace]:key=value`) and of function addresses (`name[.namespace]`).
 * Pure, so the CLI, the `/_/functions` hook and unit tests share one grammar. */

export interface FunctionSpec {
  readonly name: string;
  readonly namespace: string;
  /** null means "never": the function accepts scale requests but never becomes ready. */
  readonly startDelayMs: number | null;
  /** `gate`: the process starts at once on scale, but the function becomes ready only when a test
   * releases it (POST /_/release[/name]), so a test decides the moment of readiness, not a timer. */
  readonly gated?: true;
  /** null when the spec gave none: then no `com.openfaas.scale.min` label is reported. */
  readonly minScale: number | null;
  /** `listen-delay=MS`: availableReplicas is reported this long (at least) before the function accepts
   * connections, and its route answers like a gateway whose upstream refuses meanwhile (500, as faas-provider): the gap
   * a readiness probe closes. Absent: ready means accepting, as before. */
  readonly listenDelayMs?: number;
  /** Reported in FunctionStatus.labels, after (so over) the provider's own `faas_function` and `com.openfaas.scale.min`. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Reported in FunctionStatus.annotations. */
  readonly annotations?: Readonly<Record<string, string>>;
}

export type MetadataKind = 'labels' | 'annotations';

/** One `--function-label` / `--function-annotation` value. */
export interface MetadataEntry {
  readonly address: FunctionAddress;
  readonly key: string;
  readonly value: string;
}

export interface FunctionAddress {
  readonly name: string;
  readonly namespace: string;
}

// DNS-1123 label, as Kubernetes (and so OpenFaaS) requires for function and namespace names.
const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const NON_NEGATIVE_INT = /^\d+$/;
// Kubernetes label/annotation key: optional DNS prefix and '/', then a name; loose but no spaces, '=' or ':'.
const METADATA_KEY = /^[A-Za-z0-9](?:[-A-Za-z0-9_./]{0,251}[A-Za-z0-9])?$/;
const MAX_METADATA_VALUE = 4096;
const SPEC_USAGE = 'name[.namespace]:startDelayMs|never|gate[:minScale][:listen-delay=MS]';

export class SpecError extends Error {
  override readonly name = 'SpecError';
}

/** `name` or `name.namespace`; a missing namespace means `defaultNamespace`. */
export function parseAddress(text: string, defaultNamespace: string): FunctionAddress {
  const dot = text.indexOf('.');
  const name = dot < 0 ? text : text.slice(0, dot);
  const namespace = dot < 0 ? defaultNamespace : text.slice(dot + 1);
  if (!LABEL.test(name)) throw new SpecError(`invalid function name: ${JSON.stringify(name)}`);
  if (!LABEL.test(namespace)) throw new SpecError(`invalid namespace: ${JSON.stringify(namespace)}`);
  return { name, namespace };
}

export function parseSpec(text: string, defaultNamespace: string): FunctionSpec {
  const [address = '', delay, ...rest] = text.split(':');
  if (delay === undefined) throw new SpecError(`invalid function spec ${JSON.stringify(text)}: want ${SPEC_USAGE}`);
  const { name, namespace } = parseAddress(address, defaultNamespace);
  // A bare third part is minScale (the original grammar); everything after it is key=value options.
  const min = rest[0] !== undefined && !rest[0].includes('=') ? rest.shift() : undefined;
  const minScale = min === undefined ? null : parseMinScale(min);
  const options = parseOptions(text, rest);
  const base =
    delay === 'gate'
      ? { name, namespace, startDelayMs: 0, gated: true as const, minScale }
      : { name, namespace, startDelayMs: parseDelay(delay), minScale };
  if (options.listenDelayMs === undefined) return base;
  if (base.startDelayMs === null || base.gated === true)
    throw new SpecError(`invalid function spec ${JSON.stringify(text)}: listen-delay needs a start delay in ms (not never or gate)`);
  return { ...base, listenDelayMs: options.listenDelayMs };
}

function parseOptions(text: string, parts: readonly string[]): { listenDelayMs?: number } {
  const options: { listenDelayMs?: number } = {};
  for (const part of parts) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    if (key !== 'listen-delay' || eq < 0 || options.listenDelayMs !== undefined)
      throw new SpecError(
        `invalid function spec ${JSON.stringify(text)}: unknown or repeated option ${JSON.stringify(part)}: want ${SPEC_USAGE}`,
      );
    if (!NON_NEGATIVE_INT.test(value)) throw new SpecError(`invalid listen-delay ${JSON.stringify(value)}: want an integer >= 0 (ms)`);
    options.listenDelayMs = Number(value);
  }
  return options;
}

/** `name[.namespace]:key=value`, as given to `--function-label` / `--function-annotation`. */
export function parseMetadata(text: string, defaultNamespace: string): MetadataEntry {
  const colon = text.indexOf(':');
  const eq = text.indexOf('=', colon + 1);
  if (colon < 0 || eq < 0) throw new SpecError(`invalid label/annotation ${JSON.stringify(text)}: want name[.namespace]:key=value`);
  const address = parseAddress(text.slice(0, colon), defaultNamespace);
  const { key, value } = checkMetadata(text.slice(colon + 1, eq), text.slice(eq + 1));
  return { address, key, value };
}

/** Validates one key and value; returns them unchanged. */
export function checkMetadata(key: string, value: string): { key: string; value: string } {
  if (!METADATA_KEY.test(key)) throw new SpecError(`invalid label/annotation key ${JSON.stringify(key)}`);
  // eslint-disable-next-line no-control-regex -- the point is to refuse control characters
  if (value.length > MAX_METADATA_VALUE || /[\u0000-\u001f\u007f]/.test(value))
    throw new SpecError(`invalid value for ${key}: at most ${MAX_METADATA_VALUE} characters, no control characters`);
  return { key, value };
}

/** The spec with one more label or annotation (a repeated key: the later value wins). */
export function withMetadata(spec: FunctionSpec, kind: MetadataKind, key: string, value: string): FunctionSpec {
  return { ...spec, [kind]: { ...spec[kind], [key]: value } };
}

function parseDelay(text: string): number | null {
  if (text === 'never') return null;
  if (!NON_NEGATIVE_INT.test(text))
    throw new SpecError(`invalid startDelayMs ${JSON.stringify(text)}: want an integer >= 0, "never" or "gate"`);
  return Number(text);
}

function parseMinScale(text: string): number {
  const value = Number(text);
  if (!NON_NEGATIVE_INT.test(text) || value < 1) throw new SpecError(`invalid minScale ${JSON.stringify(text)}: want an integer >= 1`);
  return value;
}

/** Key used in `/_/stats` and the registry: `name.namespace`. */
export function functionKey(fn: FunctionAddress): string {
  return `${fn.name}.${fn.namespace}`;
}
