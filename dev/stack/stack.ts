import { startEnvoy, type EnvoyOptions, type EnvoyProcess } from './envoy';
import { startProvider, startWaker, type ProviderProcess, type WakerProcess } from './processes';

export interface StackOptions {
  /** Local provider flags, e.g. ['--function', 'hello:300']. */
  readonly providerArgs: readonly string[];
  /** faas-waker settings (WAKER_*); the provider URL is filled in. */
  readonly wakerEnv?: Record<string, string>;
  readonly envoy?: Omit<EnvoyOptions, 'grpcPort' | 'gatewayPort'>;
  readonly echo?: boolean;
  /** Open-files limit for all three processes (and the provider's function children), for load tests. */
  readonly maxOpenFiles?: number;
}

export interface Stack {
  readonly provider: ProviderProcess;
  readonly waker: WakerProcess;
  readonly envoy: EnvoyProcess;
  /** `http://127.0.0.1:<envoy port><path>` */
  url(path: string): string;
  stop(): Promise<void>;
}

/** Provider, then faas-waker (pointing at it), then Envoy (pointing at both), all on loopback. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const echo = options.echo ?? process.env.STACK_ECHO === '1';
  const files = options.maxOpenFiles;
  const provider = await startProvider(options.providerArgs, echo, files);
  let waker: WakerProcess | undefined;
  try {
    waker = await startWaker({ WAKER_PROVIDER_URL: provider.url, ...options.wakerEnv }, echo, files);
    const envoy = await startEnvoy({
      ...(files === undefined ? {} : { maxOpenFiles: files }),
      ...options.envoy,
      grpcPort: waker.grpcPort,
      gatewayPort: provider.port,
      echo,
    });
    const started = waker;
    return {
      provider,
      waker: started,
      envoy,
      url: (path) => `http://127.0.0.1:${envoy.port}${path}`,
      stop: async () => {
        await envoy.stop();
        await started.stop('SIGKILL');
        await provider.stop();
      },
    };
  } catch (err) {
    await waker?.stop('SIGKILL');
    await provider.stop();
    throw err;
  }
}
