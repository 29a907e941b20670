/** A function as the provider knows it. `key` (`name.namespace`) identifies it in caches and flights. */
export interface FunctionRef {
  readonly name: string;
  readonly namespace: string;
  readonly key: string;
}

export function functionRef(name: string, namespace: string): FunctionRef {
  return { name, namespace, key: `${name}.${namespace}` };
}

/** Kubernetes DNS-1123 label: lower-case alphanumerics and '-', 1-63 chars, alphanumeric at both ends. */
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function isDnsLabel(value: string): boolean {
  return DNS_LABEL.test(value);
}

/**
 * Parses `NAME` or `NAME.NAMESPACE` as written in a URL or an admin call.
 * Returns null for anything that is not exactly one or two valid labels; percent-encoding is never
 * decoded, so `%2e%2e` or `%2F` can never turn into something the provider would interpret.
 */
export function parseFunctionId(id: string, defaultNamespace: string): FunctionRef | null {
  const dot = id.indexOf('.');
  const name = dot === -1 ? id : id.slice(0, dot);
  const namespace = dot === -1 ? defaultNamespace : id.slice(dot + 1);
  if (!isDnsLabel(name) || !isDnsLabel(namespace)) return null;
  return functionRef(name, namespace);
}
