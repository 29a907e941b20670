import {
  parseDuration,
  parseListenAddress,
  parseLogLevel,
  parseNamespace,
  parsePositiveInt,
  parsePrefixes,
  parseText,
  parseUrl,
  parseNamespaces,
  parseProviderKind,
  parseBool,
  parseUrlTemplate,
  parseUrlPath,
  type LogLevel,
  type ProviderKind,
} from './parse';

/** Every setting: one row here gives its env var, CLI flag, default and --help text. */
export interface SettingSpec<K extends keyof Settings> {
  readonly key: K;
  readonly env: string;
  /** Without the leading `--`; absent for secrets, which are never accepted on the command line. */
  readonly flag?: string;
  /** Text form of the default, parsed like user input; absent = required or optional-without-default. */
  readonly defaultText?: string;
  /** The default with `WAKER_PROVIDER=kubernetes`, where it differs (the watch changes what is safe). */
  readonly kubernetesDefaultText?: string;
  readonly required?: boolean;
  readonly parse: (text: string) => Settings[K];
  readonly help: string;
}

export interface Settings {
  provider: ProviderKind;
  /** Required with provider `openfaas`. */
  providerUrl: string | undefined;
  kubeconfig: string | undefined;
  /** Unset: [defaultNamespace] (resolved by loadConfig). */
  namespaces: string[] | undefined;
  grpcAddress: string;
  adminAddress: string;
  adminTokenFile: string | undefined;
  holdTimeoutMs: number;
  wakeTimeoutMs: number;
  maxHeldPerFunction: number;
  maxHeldTotal: number;
  defaultNamespace: string;
  functionPrefixes: string[];
  providerUser: string | undefined;
  providerPassword: string | undefined;
  providerSecretsDir: string | undefined;
  providerTimeoutMs: number;
  providerConnections: number;
  readyTtlMs: number;
  notFoundTtlMs: number;
  cacheMaxKeys: number;
  pollMinIntervalMs: number;
  pollMaxIntervalMs: number;
  envoyMaxMessageTimeoutMs: number;
  drainDelayMs: number;
  shutdownGraceMs: number;
  logLevel: LogLevel;
  idleScaleDown: boolean;
  idleTimeoutMs: number;
  activityWriteIntervalMs: number;
  replicaId: string | undefined;
  waitingPage: boolean;
  waitingPageTemplate: string | undefined;
  readyProbeUrl: string | undefined;
  readyProbePath: string | undefined;
  providerCaFile: string | undefined;
  providerCertFile: string | undefined;
  providerKeyFile: string | undefined;
  grpcTlsCertFile: string | undefined;
  grpcTlsKeyFile: string | undefined;
  grpcClientCaFile: string | undefined;
}

type Row = { [K in keyof Settings]: SettingSpec<K> }[keyof Settings];

export const SETTINGS: readonly Row[] = [
  {
    key: 'provider',
    env: 'WAKER_PROVIDER',
    flag: 'provider',
    defaultText: 'openfaas',
    parse: parseProviderKind,
    help: 'Where functions live: openfaas (the provider API at WAKER_PROVIDER_URL) or kubernetes (Deployments, through the Kubernetes API)',
  },
  {
    key: 'providerUrl',
    env: 'WAKER_PROVIDER_URL',
    flag: 'provider-url',
    parse: parseUrl,
    help: 'Base URL of the function provider API (OpenFaaS gateway or faas-provider), e.g. http://gateway.openfaas:8080; required with WAKER_PROVIDER=openfaas',
  },
  {
    key: 'kubeconfig',
    env: 'WAKER_KUBECONFIG',
    flag: 'kubeconfig',
    parse: parseText,
    help: 'kubernetes: a kubeconfig file to use (its current context) instead of the in-cluster ServiceAccount',
  },
  {
    key: 'namespaces',
    env: 'WAKER_NAMESPACES',
    flag: 'namespaces',
    parse: parseNamespaces,
    help: 'kubernetes: comma-separated namespaces watched and touched; default WAKER_DEFAULT_NAMESPACE',
  },
  {
    key: 'grpcAddress',
    env: 'WAKER_GRPC_ADDRESS',
    flag: 'grpc-address',
    defaultText: '0.0.0.0:50051',
    parse: parseListenAddress,
    help: 'Where the ext_proc gRPC server listens (host:port or unix:/path)',
  },
  {
    key: 'adminAddress',
    env: 'WAKER_ADMIN_ADDRESS',
    flag: 'admin-address',
    defaultText: '0.0.0.0:9090',
    parse: parseListenAddress,
    help: 'Where the admin HTTP server listens (health, metrics, pre-warm)',
  },
  {
    key: 'adminTokenFile',
    env: 'WAKER_ADMIN_TOKEN_FILE',
    flag: 'admin-token-file',
    parse: parseText,
    help: 'File with the bearer token that admin routes which change anything (POST /wake) require; re-read when it changes. Unset: those routes answer 403',
  },
  {
    key: 'holdTimeoutMs',
    env: 'WAKER_HOLD_TIMEOUT',
    flag: 'hold-timeout',
    defaultText: '60s',
    parse: parseDuration,
    help: 'Longest a request is held while its function wakes; then 504',
  },
  {
    key: 'wakeTimeoutMs',
    env: 'WAKER_WAKE_TIMEOUT',
    flag: 'wake-timeout',
    defaultText: '120s',
    parse: parseDuration,
    help: 'Longest one wake keeps polling the provider (>= hold timeout; goes on for later requests after a 504)',
  },
  {
    key: 'maxHeldPerFunction',
    env: 'WAKER_MAX_HELD_PER_FUNCTION',
    flag: 'max-held-per-function',
    defaultText: '1000',
    parse: parsePositiveInt,
    help: 'Requests held at once for one function; the excess gets 503 + retry-after',
  },
  {
    key: 'maxHeldTotal',
    env: 'WAKER_MAX_HELD_TOTAL',
    flag: 'max-held-total',
    defaultText: '20000',
    parse: parsePositiveInt,
    help: 'Requests held at once across all functions; the excess gets 503 + retry-after',
  },
  {
    key: 'defaultNamespace',
    env: 'WAKER_DEFAULT_NAMESPACE',
    flag: 'default-namespace',
    defaultText: 'openfaas-fn',
    parse: parseNamespace,
    help: 'Namespace for /function/NAME without .NAMESPACE',
  },
  {
    key: 'functionPrefixes',
    env: 'WAKER_FUNCTION_PREFIXES',
    flag: 'function-prefixes',
    defaultText: '/function/,/async-function/',
    parse: parsePrefixes,
    help: 'Comma-separated path prefixes that address a function; other paths pass untouched',
  },
  { key: 'providerUser', env: 'WAKER_PROVIDER_USER', parse: parseText, help: 'Basic-auth user for the provider API (env only)' },
  {
    key: 'providerPassword',
    env: 'WAKER_PROVIDER_PASSWORD',
    parse: parseText,
    help: 'Basic-auth password for the provider API (env only, never logged)',
  },
  {
    key: 'providerSecretsDir',
    env: 'WAKER_PROVIDER_SECRETS_DIR',
    flag: 'provider-secrets-dir',
    parse: parseText,
    help: 'Directory with OpenFaaS-style basic-auth-user and basic-auth-password files; re-read when they change (rotation without restart)',
  },
  {
    key: 'providerTimeoutMs',
    env: 'WAKER_PROVIDER_TIMEOUT',
    flag: 'provider-timeout',
    defaultText: '5s',
    parse: parseDuration,
    help: 'Timeout of one provider call (connect, headers and body); waiting for a free connection in the pool counts apart, up to twice more',
  },
  {
    key: 'providerConnections',
    env: 'WAKER_PROVIDER_CONNECTIONS',
    flag: 'provider-connections',
    defaultText: '16',
    parse: parsePositiveInt,
    help: 'Keep-alive connections to the provider; also caps provider calls in flight',
  },
  {
    key: 'readyTtlMs',
    env: 'WAKER_READY_TTL',
    flag: 'ready-ttl',
    defaultText: '2s',
    // The watch drops a ready entry the moment its function scales to zero, so the TTL is only a
    // backstop there; a short one would send requests to an API server that may be restarting.
    kubernetesDefaultText: '1h',
    parse: parseDuration,
    help: 'How long "function ready" is trusted; busy functions are refreshed in the background. Kubernetes mode: the watch also drops it at once',
  },
  {
    key: 'notFoundTtlMs',
    env: 'WAKER_NOT_FOUND_TTL',
    flag: 'not-found-ttl',
    defaultText: '2s',
    parse: parseDuration,
    help: 'How long "function unknown" (404) is remembered',
  },
  {
    key: 'cacheMaxKeys',
    env: 'WAKER_CACHE_MAX_KEYS',
    flag: 'cache-max-keys',
    defaultText: '10000',
    parse: parsePositiveInt,
    help: 'Most functions remembered in each readiness cache (ready, unknown)',
  },
  {
    key: 'pollMinIntervalMs',
    env: 'WAKER_POLL_MIN_INTERVAL',
    flag: 'poll-min-interval',
    defaultText: '25ms',
    parse: parseDuration,
    help: 'Shortest gap between two readiness polls of one waking function',
  },
  {
    key: 'pollMaxIntervalMs',
    env: 'WAKER_POLL_MAX_INTERVAL',
    flag: 'poll-max-interval',
    defaultText: '1s',
    parse: parseDuration,
    help: 'Longest gap between two readiness polls of one waking function',
  },
  {
    key: 'envoyMaxMessageTimeoutMs',
    env: 'WAKER_ENVOY_MAX_MESSAGE_TIMEOUT',
    flag: 'envoy-max-message-timeout',
    defaultText: '120s',
    parse: parseDuration,
    help: "Envoy's ext_proc max_message_timeout; the hold timeout must fit inside it",
  },
  {
    key: 'drainDelayMs',
    env: 'WAKER_DRAIN_DELAY',
    flag: 'drain-delay',
    defaultText: '5s',
    parse: parseDuration,
    help: 'On SIGTERM: keep answering new streams this long while health says NOT_SERVING',
  },
  {
    key: 'shutdownGraceMs',
    env: 'WAKER_SHUTDOWN_GRACE',
    flag: 'shutdown-grace',
    defaultText: '20s',
    parse: parseDuration,
    help: 'On SIGTERM: time held requests get to finish their wake before they get 503',
  },
  {
    key: 'logLevel',
    env: 'WAKER_LOG_LEVEL',
    flag: 'log-level',
    defaultText: 'info',
    parse: parseLogLevel,
    help: 'fatal, error, warn, info, debug, trace or silent',
  },
  {
    key: 'idleScaleDown',
    env: 'WAKER_IDLE_SCALE_DOWN',
    flag: 'idle-scale-down',
    defaultText: 'true',
    parse: parseBool,
    help: 'kubernetes: scale functions labelled com.openfaas.scale.zero=true to 0 replicas once idle; false turns it off',
  },
  {
    key: 'idleTimeoutMs',
    env: 'WAKER_IDLE_TIMEOUT',
    flag: 'idle-timeout',
    defaultText: '15m',
    parse: parseDuration,
    help: 'kubernetes: idle time (no request started, none in flight) before scale to zero, unless the function sets com.openfaas.scale.zero-duration',
  },
  {
    key: 'activityWriteIntervalMs',
    env: 'WAKER_ACTIVITY_WRITE_INTERVAL',
    flag: 'activity-write-interval',
    defaultText: '5s',
    parse: parseDuration,
    help: "kubernetes: most often one replica records a scale-to-zero function's activity in its Deployment annotation (the replicas' shared idle clock)",
  },
  {
    key: 'replicaId',
    env: 'WAKER_REPLICA_ID',
    flag: 'replica-id',
    parse: parseText,
    help: "kubernetes: this replica's name in activity records and logs; default the host name (the pod name)",
  },
  {
    key: 'waitingPage',
    env: 'WAKER_WAITING_PAGE',
    flag: 'waiting-page',
    defaultText: 'true',
    parse: parseBool,
    help: 'Answer a browser navigation (GET/HEAD, Accept: text/html) to a sleeping function with a self-refreshing "starting" page instead of holding it; per function: faas-waker/waiting-page',
  },
  {
    key: 'waitingPageTemplate',
    env: 'WAKER_WAITING_PAGE_TEMPLATE',
    flag: 'waiting-page-template',
    parse: parseText,
    help: 'HTML file replacing the built-in waiting page; {{name}}, {{namespace}} and {{retryAfter}} are replaced (HTML-escaped)',
  },
  {
    key: 'readyProbeUrl',
    env: 'WAKER_READY_PROBE_URL',
    flag: 'ready-probe-url',
    parse: parseUrlTemplate,
    help: "URL template through which a woken function is probed before release, e.g. http://gateway:8080/function/{name}.{namespace}{path}; {path} is the function's ready path",
  },
  {
    key: 'readyProbePath',
    env: 'WAKER_READY_PROBE_PATH',
    flag: 'ready-probe-path',
    parse: parseUrlPath,
    help: 'Ready path probed for functions that set none (com.openfaas.ready.http.path or faas-waker/ready-path); unset: only those functions are probed',
  },
  {
    key: 'providerCaFile',
    env: 'WAKER_PROVIDER_CA_FILE',
    flag: 'provider-ca-file',
    parse: parseText,
    help: 'PEM CA bundle trusted for an https:// provider URL (instead of the system roots); re-read when it changes',
  },
  {
    key: 'providerCertFile',
    env: 'WAKER_PROVIDER_CERT_FILE',
    flag: 'provider-cert-file',
    parse: parseText,
    help: 'PEM client certificate presented to an https:// provider (with WAKER_PROVIDER_KEY_FILE); re-read when it changes',
  },
  {
    key: 'providerKeyFile',
    env: 'WAKER_PROVIDER_KEY_FILE',
    flag: 'provider-key-file',
    parse: parseText,
    help: 'PEM private key of WAKER_PROVIDER_CERT_FILE',
  },
  {
    key: 'grpcTlsCertFile',
    env: 'WAKER_GRPC_TLS_CERT_FILE',
    flag: 'grpc-tls-cert-file',
    parse: parseText,
    help: 'PEM certificate for TLS on the gRPC listener (with WAKER_GRPC_TLS_KEY_FILE); unset: plain-text HTTP/2; re-read when it changes',
  },
  {
    key: 'grpcTlsKeyFile',
    env: 'WAKER_GRPC_TLS_KEY_FILE',
    flag: 'grpc-tls-key-file',
    parse: parseText,
    help: 'PEM private key of WAKER_GRPC_TLS_CERT_FILE',
  },
  {
    key: 'grpcClientCaFile',
    env: 'WAKER_GRPC_CLIENT_CA_FILE',
    flag: 'grpc-client-ca-file',
    parse: parseText,
    help: 'PEM CA bundle: when set, the gRPC listener requires a client certificate signed by it (mutual TLS with Envoy)',
  },
];
