import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { firstLine } from '../errors';
import { readBasicAuth } from '../provider/credentials';
import { SETTINGS, type Settings } from './settings';

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

export type Config = Readonly<Omit<Settings, 'providerPassword' | 'providerUser' | 'namespaces'>> & {
  /** Basic auth for the provider, from env or the secrets directory (as read at start); never logged. */
  readonly providerAuth: Credentials | undefined;
  /** Where providerAuth came from: the secrets directory is re-read when its files change. */
  readonly providerAuthFrom: 'env' | 'secrets-dir' | 'none';
  /** kubernetes: the namespaces watched and touched (WAKER_NAMESPACES, or the default namespace). */
  readonly namespaces: readonly string[];
};

/** Thrown with every problem found, so one failed start lists all of them. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export interface ConfigSources {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly argv: readonly string[];
  readonly readFile?: (path: string) => string;
}

export type ParsedCommand = { kind: 'help' } | { kind: 'run'; config: Config };

/** Flags win over env vars; all values validated; throws ConfigError listing every problem. */
export function loadConfig(sources: ConfigSources): ParsedCommand {
  const problems: string[] = [];
  const flags = parseFlags(sources.argv, problems);
  if (flags.help === true) return { kind: 'help' };

  const values: Partial<Record<keyof Settings, unknown>> = {};
  for (const spec of SETTINGS) {
    const fromFlag = spec.flag === undefined ? undefined : flags[spec.flag];
    const fromEnv = sources.env[spec.env];
    // An empty env var means "not set" (common in templated manifests); an empty flag is a mistake.
    if (fromFlag === '') {
      problems.push(`--${spec.flag ?? ''}: empty value`);
      continue;
    }
    // SETTINGS lists the provider first, so its kind is known here.
    const dflt = values.provider === 'kubernetes' ? (spec.kubernetesDefaultText ?? spec.defaultText) : spec.defaultText;
    const text = typeof fromFlag === 'string' ? fromFlag : fromEnv === undefined || fromEnv === '' ? dflt : fromEnv;
    if (text === undefined) {
      if (spec.required === true) problems.push(`${spec.env} (--${spec.flag ?? ''}): required`);
      continue;
    }
    try {
      values[spec.key] = spec.parse(text);
    } catch (err) {
      const shown = spec.key === 'providerPassword' ? '<hidden>' : JSON.stringify(hideUrlCredentials(text));
      problems.push(`${spec.env}${spec.flag ? ` (--${spec.flag})` : ''}: expected ${(err as Error).message}, got ${shown}`);
    }
  }
  const settings = values as Settings;
  checkRelations(settings, problems);
  const providerAuth = resolveCredentials(settings, sources.readFile ?? ((p) => readFileSync(p, 'utf8')), problems);
  if (problems.length > 0) throw new ConfigError(problems);

  const { providerUser: _user, providerPassword: _password, namespaces, ...rest } = settings;
  return {
    kind: 'run',
    config: Object.freeze({
      ...rest,
      functionPrefixes: Object.freeze([...rest.functionPrefixes]) as string[],
      namespaces: Object.freeze([...(namespaces ?? [rest.defaultNamespace])]),
      providerAuth,
      providerAuthFrom: providerAuth === undefined ? 'none' : settings.providerUser !== undefined ? 'env' : 'secrets-dir',
    }),
  };
}

/** Lenient parse, so an unknown flag is one problem among the others instead of hiding them. */
function parseFlags(argv: readonly string[], problems: string[]): Record<string, string | boolean | undefined> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const spec of SETTINGS) if (spec.flag !== undefined) options[spec.flag] = { type: 'string' };
  const { values, tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const flags: Record<string, string | boolean | undefined> = {};
  for (const [name, value] of Object.entries(values)) {
    const option = options[name];
    if (option === undefined) problems.push(`command line: unknown flag --${name}`);
    else if (option.type === 'string' && typeof value !== 'string') problems.push(`command line: --${name} needs a value`);
    else flags[name] = value;
  }
  // `--unknown value`: the value belongs to the unknown flag, it is not a second problem.
  tokens.forEach((token, i) => {
    const previous = tokens[i - 1];
    const ownedByUnknown = previous?.kind === 'option' && options[previous.name] === undefined && previous.inlineValue !== true;
    if (token.kind === 'positional' && !ownedByUnknown) problems.push(`command line: unexpected argument ${JSON.stringify(token.value)}`);
  });
  return flags;
}

function checkRelations(s: Settings, problems: string[]): void {
  const positive: (keyof Settings)[] = [
    'holdTimeoutMs',
    'wakeTimeoutMs',
    'providerTimeoutMs',
    'readyTtlMs',
    'notFoundTtlMs',
    'pollMinIntervalMs',
    'pollMaxIntervalMs',
    'idleTimeoutMs',
    'activityWriteIntervalMs',
  ];
  for (const key of positive) {
    const value = s[key];
    const spec = SETTINGS.find((x) => x.key === key);
    if (typeof value === 'number' && value <= 0 && spec) problems.push(`${spec.env}: must be greater than 0`);
  }
  if (s.wakeTimeoutMs < s.holdTimeoutMs) problems.push('WAKER_WAKE_TIMEOUT must be >= WAKER_HOLD_TIMEOUT');
  if (s.pollMaxIntervalMs < s.pollMinIntervalMs) problems.push('WAKER_POLL_MAX_INTERVAL must be >= WAKER_POLL_MIN_INTERVAL');
  if (s.holdTimeoutMs + OVERRIDE_MARGIN_MS > s.envoyMaxMessageTimeoutMs) {
    problems.push(
      `WAKER_HOLD_TIMEOUT + ${OVERRIDE_MARGIN_MS}ms must fit in WAKER_ENVOY_MAX_MESSAGE_TIMEOUT (Envoy ignores a larger override_message_timeout)`,
    );
  }
  // First, as a missing required setting would be in the loop above.
  if (s.provider === 'openfaas' && s.providerUrl === undefined) problems.unshift('WAKER_PROVIDER_URL (--provider-url): required');
  if (
    s.provider === 'kubernetes' &&
    s.namespaces !== undefined &&
    s.defaultNamespace !== undefined &&
    !s.namespaces.includes(s.defaultNamespace)
  ) {
    problems.push(
      `WAKER_NAMESPACES must include WAKER_DEFAULT_NAMESPACE (${s.defaultNamespace}): /function/NAME without .NAMESPACE means that namespace`,
    );
  }
  if ((s.providerCertFile === undefined) !== (s.providerKeyFile === undefined)) {
    problems.push('WAKER_PROVIDER_CERT_FILE and WAKER_PROVIDER_KEY_FILE must be set together');
  }
  if ((s.grpcTlsCertFile === undefined) !== (s.grpcTlsKeyFile === undefined)) {
    problems.push('WAKER_GRPC_TLS_CERT_FILE and WAKER_GRPC_TLS_KEY_FILE must be set together');
  }
  if (s.grpcClientCaFile !== undefined && s.grpcTlsCertFile === undefined) {
    problems.push('WAKER_GRPC_CLIENT_CA_FILE needs WAKER_GRPC_TLS_CERT_FILE and WAKER_GRPC_TLS_KEY_FILE (mutual TLS is TLS first)');
  }
  if (s.provider === 'kubernetes' && (s.providerCaFile !== undefined || s.providerCertFile !== undefined)) {
    problems.push(
      'WAKER_PROVIDER_CA_FILE / WAKER_PROVIDER_CERT_FILE apply to WAKER_PROVIDER=openfaas only: Kubernetes TLS comes from the kubeconfig',
    );
  }
  if (s.readyProbePath !== undefined && s.readyProbeUrl === undefined) {
    problems.push('WAKER_READY_PROBE_PATH needs WAKER_READY_PROBE_URL (where to send the probe)');
  }
  if ((s.providerUser === undefined) !== (s.providerPassword === undefined)) {
    problems.push('WAKER_PROVIDER_USER and WAKER_PROVIDER_PASSWORD must be set together');
  }
}

/** Envoy's timer gets this much more than our hold, so our own 504 always wins the race. */
export const OVERRIDE_MARGIN_MS = 1000;

function resolveCredentials(s: Settings, readFile: (path: string) => string, problems: string[]): Credentials | undefined {
  if (s.providerUser !== undefined && s.providerPassword !== undefined) return { user: s.providerUser, password: s.providerPassword };
  if (s.providerSecretsDir === undefined) return undefined;
  try {
    return readBasicAuth(s.providerSecretsDir, readFile);
  } catch (err) {
    problems.push(`WAKER_PROVIDER_SECRETS_DIR: cannot read basic-auth-user and basic-auth-password (${firstLine(err)})`);
    return undefined;
  }
}

/** `http://user:pass@host` → `http://<hidden>@host`: a rejected value is echoed, its credentials never. */
export function hideUrlCredentials(text: string): string {
  return text.replace(/(\/\/)[^/?#@\s]*@/g, '$1<hidden>@');
}

/** What the startup log line shows: every setting, secrets replaced by whether they are set. */
export function describeConfig(config: Config): Record<string, unknown> {
  const { providerAuth, ...rest } = config;
  return { ...rest, providerAuthMode: providerAuth === undefined ? 'none' : 'basic' };
}

export function helpText(): string {
  const lines = ['Usage: faas-waker [flags]', '', 'Every flag has an environment variable; flags win.', ''];
  for (const spec of SETTINGS) {
    const flag = spec.flag === undefined ? '(env only)' : `--${spec.flag}`;
    const dflt =
      spec.required === true
        ? 'required'
        : spec.defaultText === undefined
          ? 'none'
          : spec.kubernetesDefaultText === undefined
            ? spec.defaultText
            : `${spec.defaultText} (kubernetes: ${spec.kubernetesDefaultText})`;
    lines.push(`  ${flag.padEnd(30)} ${spec.env.padEnd(34)} default: ${dflt}`, `      ${spec.help}`);
  }
  lines.push('  --help, -h                     show this help');
  return lines.join('\n');
}
