/** Parsing of function specs (`name[.namespace]:startDelayMs|never|gate[:minScale]`) and function addresses
 * (`name[.namespace]`). Pure, so the CLI, the `/_/functions` hook and unit tests share one grammar. */

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
}

export interface FunctionAddress {
  readonly name: string;
  readonly namespace: string;
}

// DNS-1123 label, as Kubernetes (and so OpenFaaS) requires for function and namespace names.
const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const NON_NEGATIVE_INT = /^\d+$/;

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
  const parts = text.split(':');
  if (parts.length < 2 || parts.length > 3) {
    throw new SpecError(`invalid function spec ${JSON.stringify(text)}: want name[.namespace]:startDelayMs|never|gate[:minScale]`);
  }
  const [address = '', delay = '', min] = parts;
  const { name, namespace } = parseAddress(address, defaultNamespace);
  const minScale = min === undefined ? null : parseMinScale(min);
  if (delay === 'gate') return { name, namespace, startDelayMs: 0, gated: true, minScale };
  return { name, namespace, startDelayMs: parseDelay(delay), minScale };
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
