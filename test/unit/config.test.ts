import { ConfigError, describeConfig, helpText, loadConfig, type Config, type ConfigSources } from '../../src/config/load';
import { parseDuration } from '../../src/config/parse';
import { SETTINGS } from '../../src/config/settings';

const URL_ENV = { WAKER_PROVIDER_URL: 'http://gateway:8080' };

function noFiles(path: string): string {
  throw new Error(`unexpected read of ${path}`);
}

function run(sources: Partial<ConfigSources>): Config {
  const result = loadConfig({ env: URL_ENV, argv: [], readFile: noFiles, ...sources });
  if (result.kind !== 'run') throw new Error('expected a run command');
  return result.config;
}

function problemsOf(sources: Partial<ConfigSources>): readonly string[] {
  try {
    loadConfig({ env: URL_ENV, argv: [], readFile: noFiles, ...sources });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig defaults', () => {
  test('only the provider URL set: every default', () => {
    const config = run({});
    expect(config).toEqual({
      providerUrl: 'http://gateway:8080',
      grpcAddress: '0.0.0.0:50051',
      adminAddress: '0.0.0.0:9090',
      holdTimeoutMs: 60_000,
      wakeTimeoutMs: 120_000,
      maxHeldPerFunction: 1000,
      maxHeldTotal: 20_000,
      defaultNamespace: 'openfaas-fn',
      functionPrefixes: ['/function/', '/async-function/'],
      providerTimeoutMs: 5000,
      providerConnections: 16,
      readyTtlMs: 2000,
      notFoundTtlMs: 2000,
      cacheMaxKeys: 10_000,
      pollMinIntervalMs: 25,
      pollMaxIntervalMs: 1000,
      envoyMaxMessageTimeoutMs: 120_000,
      drainDelayMs: 5000,
      shutdownGraceMs: 20_000,
      logLevel: 'info',
      providerAuth: undefined,
      providerAuthFrom: 'none',
      provider: 'openfaas',
      namespaces: ['openfaas-fn'],
      idleScaleDown: true,
      idleTimeoutMs: 900_000,
      activityWriteIntervalMs: 5000,
      waitingPage: true,
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.functionPrefixes)).toBe(true);
  });

  test('the provider URL is required', () => {
    expect(problemsOf({ env: {} })).toEqual(['WAKER_PROVIDER_URL (--provider-url): required']);
  });

  // An empty variable (`WAKER_HOLD_TIMEOUT=` in a manifest) must mean "unset", never "no value at all".
  test.each(['WAKER_HOLD_TIMEOUT', 'WAKER_LOG_LEVEL', 'WAKER_MAX_HELD_PER_FUNCTION'])('empty %s falls back to its default', (name) => {
    const config = run({ env: { ...URL_ENV, [name]: '' } });
    const defaults = run({});
    expect([config.holdTimeoutMs, config.logLevel, config.maxHeldPerFunction]).toEqual([
      defaults.holdTimeoutMs,
      defaults.logLevel,
      defaults.maxHeldPerFunction,
    ]);
  });

  test('an empty flag value is refused or defaulted, never left undefined', () => {
    let holdTimeoutMs: number | undefined;
    try {
      holdTimeoutMs = run({ argv: ['--hold-timeout='] }).holdTimeoutMs;
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return;
    }
    expect(holdTimeoutMs).toBe(60_000);
  });

  test('a trailing slash is dropped from the provider URL', () => {
    expect(run({ env: { WAKER_PROVIDER_URL: 'http://gw:8080/base/' } }).providerUrl).toBe('http://gw:8080/base');
  });
});

describe('precedence: flags win over env', () => {
  test.each([
    [['--hold-timeout=20s'], 20_000],
    [['--hold-timeout', '20s'], 20_000],
    [[], 10_000],
  ])('argv %j with env 10s -> %d ms', (argv, expected) => {
    expect(run({ env: { ...URL_ENV, WAKER_HOLD_TIMEOUT: '10s' }, argv }).holdTimeoutMs).toBe(expected);
  });

  test('flag provider URL replaces the env one; env fills the rest', () => {
    const config = run({
      env: { ...URL_ENV, WAKER_LOG_LEVEL: 'debug', WAKER_DEFAULT_NAMESPACE: 'env-ns' },
      argv: ['--provider-url', 'http://flag:1', '--default-namespace=flag-ns'],
    });
    expect([config.providerUrl, config.logLevel, config.defaultNamespace]).toEqual(['http://flag:1', 'debug', 'flag-ns']);
  });
});

describe('durations', () => {
  test.each([
    ['250ms', 250],
    ['2s', 2000],
    ['1.5s', 1500],
    ['1m', 60_000],
    ['1h', 3_600_000],
    [' 3s ', 3000],
  ])('WAKER_PROVIDER_TIMEOUT=%j -> %d ms', (text, ms) => {
    expect(run({ env: { ...URL_ENV, WAKER_PROVIDER_TIMEOUT: text } }).providerTimeoutMs).toBe(ms);
    expect(parseDuration(text)).toBe(ms);
  });

  test.each(['5', '5sec', 's', '-1s', '1d', '1,5s', ''])('%j is refused', (text) => {
    expect(() => parseDuration(text)).toThrow('a duration such as 250ms, 2s or 1m');
  });

  test('a bare number is reported, not read as seconds', () => {
    expect(problemsOf({ env: { ...URL_ENV, WAKER_PROVIDER_TIMEOUT: '5' } })).toEqual([
      'WAKER_PROVIDER_TIMEOUT (--provider-timeout): expected a duration such as 250ms, 2s or 1m, got "5"',
    ]);
  });

  test('zero durations must be greater than 0', () => {
    expect(problemsOf({ env: { ...URL_ENV, WAKER_READY_TTL: '0ms' } })).toEqual(['WAKER_READY_TTL: must be greater than 0']);
  });
});

describe('problems are reported together', () => {
  test('four bad settings -> four problems in one ConfigError', () => {
    const problems = problemsOf({
      env: { WAKER_HOLD_TIMEOUT: 'soon', WAKER_LOG_LEVEL: 'loud', WAKER_MAX_HELD_PER_FUNCTION: '0' },
      argv: ['--grpc-address=nope'],
    });
    expect(problems).toHaveLength(5);
    expect(problems).toEqual([
      'WAKER_PROVIDER_URL (--provider-url): required',
      'WAKER_GRPC_ADDRESS (--grpc-address): expected host:port, [ipv6]:port or unix:/path, got "nope"',
      'WAKER_HOLD_TIMEOUT (--hold-timeout): expected a duration such as 250ms, 2s or 1m, got "soon"',
      'WAKER_MAX_HELD_PER_FUNCTION (--max-held-per-function): expected a positive integer, got "0"',
      'WAKER_LOG_LEVEL (--log-level): expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ]);
  });

  test('the ConfigError message lists every problem', () => {
    expect(() => loadConfig({ env: { WAKER_LOG_LEVEL: 'loud' }, argv: [] })).toThrow(/required\n {2}- WAKER_LOG_LEVEL/);
  });
});

describe('cross-checks', () => {
  test.each([
    [{ WAKER_WAKE_TIMEOUT: '30s' }, 'WAKER_WAKE_TIMEOUT must be >= WAKER_HOLD_TIMEOUT'],
    [{ WAKER_POLL_MIN_INTERVAL: '100ms', WAKER_POLL_MAX_INTERVAL: '99ms' }, 'WAKER_POLL_MAX_INTERVAL must be >= WAKER_POLL_MIN_INTERVAL'],
    [
      { WAKER_ENVOY_MAX_MESSAGE_TIMEOUT: '60s' },
      'WAKER_HOLD_TIMEOUT + 1000ms must fit in WAKER_ENVOY_MAX_MESSAGE_TIMEOUT (Envoy ignores a larger override_message_timeout)',
    ],
    [{ WAKER_PROVIDER_USER: 'admin' }, 'WAKER_PROVIDER_USER and WAKER_PROVIDER_PASSWORD must be set together'],
    [{ WAKER_PROVIDER_PASSWORD: 'pw' }, 'WAKER_PROVIDER_USER and WAKER_PROVIDER_PASSWORD must be set together'],
  ])('%j -> one problem', (env, problem) => {
    expect(problemsOf({ env: { ...URL_ENV, ...env } })).toEqual([problem]);
  });

  test.each([
    [{ WAKER_WAKE_TIMEOUT: '60s' }],
    [{ WAKER_POLL_MIN_INTERVAL: '100ms', WAKER_POLL_MAX_INTERVAL: '100ms' }],
    [{ WAKER_ENVOY_MAX_MESSAGE_TIMEOUT: '61s' }],
  ])('boundary %j is accepted', (env) => {
    expect(() => run({ env: { ...URL_ENV, ...env } })).not.toThrow();
  });
});

describe('provider credentials', () => {
  const files: Record<string, string> = { '/run/secrets/basic-auth-user': 'admin\n', '/run/secrets/basic-auth-password': '  s3cret-pw \n' };
  const readFile = jest.fn((path: string): string => {
    const text = files[path];
    if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
    return text;
  });
  beforeEach(() => readFile.mockClear());

  test('secrets dir: both files read and trimmed', () => {
    const config = run({ env: { ...URL_ENV, WAKER_PROVIDER_SECRETS_DIR: '/run/secrets' }, readFile });
    expect(config.providerAuth).toEqual({ user: 'admin', password: 's3cret-pw' });
    expect(readFile.mock.calls).toEqual([['/run/secrets/basic-auth-user'], ['/run/secrets/basic-auth-password']]);
  });

  test('secrets dir by flag', () => {
    expect(run({ argv: ['--provider-secrets-dir', '/run/secrets'], readFile }).providerAuth).toEqual({
      user: 'admin',
      password: 's3cret-pw',
    });
  });

  test('a missing file is a problem', () => {
    const problems = problemsOf({ env: { ...URL_ENV, WAKER_PROVIDER_SECRETS_DIR: '/nowhere' }, readFile });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^WAKER_PROVIDER_SECRETS_DIR: cannot read basic-auth-user and basic-auth-password \(ENOENT/);
  });

  test('an empty file is a problem', () => {
    const problems = problemsOf({ env: { ...URL_ENV, WAKER_PROVIDER_SECRETS_DIR: '/d' }, readFile: () => ' \n' });
    expect(problems).toEqual(['WAKER_PROVIDER_SECRETS_DIR: cannot read basic-auth-user and basic-auth-password (empty file)']);
  });

  test('env credentials win over the secrets dir, which is then not read', () => {
    const env = {
      ...URL_ENV,
      WAKER_PROVIDER_SECRETS_DIR: '/run/secrets',
      WAKER_PROVIDER_USER: 'env-user',
      WAKER_PROVIDER_PASSWORD: 'env-pw',
    };
    expect(run({ env, readFile }).providerAuth).toEqual({ user: 'env-user', password: 'env-pw' });
    expect(readFile).toHaveBeenCalledTimes(0);
  });

  test('the password is not a flag', () => {
    expect(problemsOf({ argv: ['--provider-password', 'x'] })).toHaveLength(1);
  });

  test('describeConfig never shows the password (nor does the config log line)', () => {
    const config = run({ env: { ...URL_ENV, WAKER_PROVIDER_USER: 'admin', WAKER_PROVIDER_PASSWORD: 'hunter2-very-secret' } });
    const described = describeConfig(config);
    expect(JSON.stringify(described)).not.toContain('hunter2-very-secret');
    expect(described.providerAuthMode).toBe('basic');
    expect(describeConfig(run({})).providerAuthMode).toBe('none');
  });
});

describe('command line', () => {
  test.each([[['--help']], [['-h']], [['--hold-timeout=1s', '--help']]])('%j -> help', (argv) => {
    expect(loadConfig({ env: {}, argv })).toEqual({ kind: 'help' });
  });

  test('an unknown flag is a problem', () => {
    const problems = problemsOf({ argv: ['--hold-timout=1s'] });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^command line: .*--hold-timout/);
  });

  test('a positional argument is a problem', () => {
    expect(problemsOf({ argv: ['serve'] })).toHaveLength(1);
  });

  test('helpText lists every env var and flag', () => {
    const text = helpText();
    for (const spec of SETTINGS) {
      expect(text).toContain(spec.env);
      if (spec.flag !== undefined) expect(text).toContain(`--${spec.flag} `);
    }
    expect(text).toContain('--help');
  });
});

describe('a provider URL with credentials in it', () => {
  test.each([
    ['env', { env: { WAKER_PROVIDER_URL: 'http://admin:hunter2@gateway:8080' } }],
    ['flag', { argv: ['--provider-url', 'https://admin:hunter2@gateway:8080/base'] }],
    ['user only', { env: { WAKER_PROVIDER_URL: 'http://hunter2@gateway:8080' } }],
  ])('is refused by %s without ever printing the credentials', (_how, sources: Partial<ConfigSources>) => {
    let message = '';
    try {
      run(sources);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('WAKER_PROVIDER_URL');
    expect(message).toContain('<hidden>@gateway:8080');
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('admin');
  });
});

describe('WAKER_PROVIDER=kubernetes', () => {
  test('needs no provider URL; namespaces default to the default namespace', () => {
    const config = run({ env: { WAKER_PROVIDER: 'kubernetes' } });
    expect([config.provider, config.providerUrl, config.namespaces, config.kubeconfig]).toEqual([
      'kubernetes',
      undefined,
      ['openfaas-fn'],
      undefined,
    ]);
    expect(Object.isFrozen(config.namespaces)).toBe(true);
  });

  test('the ready TTL defaults to 1h (the watch drops entries), and a set value still wins', () => {
    expect(run({ env: { WAKER_PROVIDER: 'kubernetes' } }).readyTtlMs).toBe(3_600_000);
    expect(run({ env: { WAKER_PROVIDER: 'kubernetes', WAKER_READY_TTL: '5s' } }).readyTtlMs).toBe(5000);
    expect(run({ env: { WAKER_PROVIDER: 'kubernetes', WAKER_READY_TTL: '' }, argv: ['--ready-ttl', '3s'] }).readyTtlMs).toBe(3000);
    expect(run({ env: URL_ENV }).readyTtlMs).toBe(2000);
    expect(helpText()).toContain('default: 2s (kubernetes: 1h)');
  });

  test('kubeconfig and namespaces by flag, duplicates dropped', () => {
    const config = run({
      env: {},
      argv: ['--provider', 'kubernetes', '--kubeconfig', '/k/config', '--namespaces', 'openfaas-fn, team,team'],
    });
    expect([config.kubeconfig, config.namespaces]).toEqual(['/k/config', ['openfaas-fn', 'team']]);
  });

  test.each([
    [{ WAKER_PROVIDER: 'nomad' }, 'WAKER_PROVIDER (--provider): expected openfaas or kubernetes, got "nomad"'],
    [
      { WAKER_PROVIDER: 'kubernetes', WAKER_NAMESPACES: 'Team' },
      'WAKER_NAMESPACES (--namespaces): expected comma-separated DNS-1123 labels such as openfaas-fn,staging, got "Team"',
    ],
    [
      { WAKER_PROVIDER: 'kubernetes', WAKER_NAMESPACES: 'team' },
      'WAKER_NAMESPACES must include WAKER_DEFAULT_NAMESPACE (openfaas-fn): /function/NAME without .NAMESPACE means that namespace',
    ],
  ])('%j -> %s', (env, problem) => {
    expect(problemsOf({ env: { ...URL_ENV, ...env } })).toEqual([problem]);
  });
});

describe('TLS, probe and idle settings', () => {
  test.each([
    [{ WAKER_PROVIDER_CERT_FILE: '/c.pem' }, 'WAKER_PROVIDER_CERT_FILE and WAKER_PROVIDER_KEY_FILE must be set together'],
    [{ WAKER_GRPC_TLS_KEY_FILE: '/k.pem' }, 'WAKER_GRPC_TLS_CERT_FILE and WAKER_GRPC_TLS_KEY_FILE must be set together'],
    [
      { WAKER_GRPC_CLIENT_CA_FILE: '/ca.pem' },
      'WAKER_GRPC_CLIENT_CA_FILE needs WAKER_GRPC_TLS_CERT_FILE and WAKER_GRPC_TLS_KEY_FILE (mutual TLS is TLS first)',
    ],
    [{ WAKER_READY_PROBE_PATH: '/_/ready' }, 'WAKER_READY_PROBE_PATH needs WAKER_READY_PROBE_URL (where to send the probe)'],
    [{ WAKER_IDLE_TIMEOUT: '0s' }, 'WAKER_IDLE_TIMEOUT: must be greater than 0'],
  ])('%j is refused', (env, problem) => {
    expect(problemsOf({ env: { ...URL_ENV, ...env } })).toEqual([problem]);
  });

  test.each(['http://gateway:8080/function/{name}.{namespace}{path}', 'https://h/{name}{path}'])(
    'probe URL template %s is accepted',
    (url) => {
      expect(run({ env: { ...URL_ENV, WAKER_READY_PROBE_URL: url } }).readyProbeUrl).toBe(url);
    },
  );

  test.each(['http://gateway:8080/function/x', 'ftp://h/{name}', 'http://u:p@h/{name}', 'http://h/{name}{other}', 'not a url {name}'])(
    'probe URL template %s is refused',
    (url) => {
      expect(problemsOf({ env: { ...URL_ENV, WAKER_READY_PROBE_URL: url } })).toHaveLength(1);
    },
  );

  test.each([
    ['off', false],
    ['FALSE', false],
    ['0', false],
    ['on', true],
    ['yes', true],
  ])('WAKER_WAITING_PAGE=%s means %s', (text, value) => {
    expect(run({ env: { ...URL_ENV, WAKER_WAITING_PAGE: text } }).waitingPage).toBe(value);
  });

  test('WAKER_IDLE_SCALE_DOWN=maybe is refused', () => {
    expect(problemsOf({ env: { ...URL_ENV, WAKER_IDLE_SCALE_DOWN: 'maybe' } })).toEqual([
      'WAKER_IDLE_SCALE_DOWN (--idle-scale-down): expected true or false, got "maybe"',
    ]);
  });
});
