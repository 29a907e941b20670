import { spawnSync } from 'node:child_process';
import { startWakerContainer } from '../../dev/stack/docker';
import { startEnvoy, type EnvoyProcess } from '../../dev/stack/envoy';
import { startProvider, type ProviderProcess, type WakerProcess } from '../../dev/stack/processes';
import { agent, get } from './http';

/**
 * The shipped image, run for real: faas-waker from the project's Dockerfile (FAAS_WAKER_IMAGE) beside
 * Envoy in a container (ENVOY_DOCKER_IMAGE) and the local provider, all on host networking. Only the
 * dockerized e2e run of `npm test` sets both; the binary run leaves this file out.
 */
const wakerImage = process.env.FAAS_WAKER_IMAGE ?? '';
const envoyImage = process.env.ENVOY_DOCKER_IMAGE ?? '';
const maybe = wakerImage !== '' && envoyImage !== '' ? describe : describe.skip;

maybe('faas-waker from its Docker image', () => {
  let provider: ProviderProcess | undefined;
  let waker: WakerProcess | undefined;
  let envoy: EnvoyProcess | undefined;

  beforeAll(async () => {
    provider = await startProvider(['--function', 'hello:300']);
    waker = await startWakerContainer(wakerImage, {
      WAKER_PROVIDER_URL: provider.url,
      // The warm check below must find the cold start's entry: not expired (2 s by default) on a loaded machine.
      WAKER_READY_TTL: '30s',
      WAKER_DRAIN_DELAY: '1s',
      WAKER_SHUTDOWN_GRACE: '2s',
    });
    envoy = await startEnvoy({ grpcPort: waker.grpcPort, gatewayPort: provider.port });
  }, 120_000);

  afterAll(async () => {
    await envoy?.stop();
    await waker?.stop('SIGKILL');
    await provider?.stop();
    await agent.close();
  });

  test('runs as uid 1000, wakes a function through the containerized Envoy, and stops on SIGTERM with exit 0', async () => {
    if (provider === undefined || waker === undefined || envoy === undefined) throw new Error('stack not started');
    // What the image declares (its own defaults; this test overrides the addresses to loopback ports).
    const inspect = spawnSync('docker', ['image', 'inspect', '--format', '{{json .Config}}', wakerImage], { encoding: 'utf8' });
    const config = JSON.parse(inspect.stdout) as {
      User: string;
      Env: string[];
      ExposedPorts: Record<string, unknown>;
      Entrypoint: string[];
    };
    expect(config.User).toBe('1000:1000');
    expect(config.Entrypoint).toEqual(['node', 'dist/main.js']);
    expect(config.Env).toEqual(
      expect.arrayContaining(['NODE_ENV=production', 'WAKER_GRPC_ADDRESS=0.0.0.0:50051', 'WAKER_ADMIN_ADDRESS=0.0.0.0:9090']),
    );
    expect(Object.keys(config.ExposedPorts).sort()).toEqual(['50051/tcp', '9090/tcp']);
    expect((await waker.admin('/readyz')).status).toBe(200);

    const cold = await get(`http://127.0.0.1:${envoy.port}/function/hello/from-the-image`);
    expect(cold.status).toBe(200);
    const body = JSON.parse(cold.text) as { function: string; path: string; headers: Record<string, string> };
    expect(body).toMatchObject({ function: 'hello', path: '/from-the-image' });
    expect(body.headers['x-faas-waker-cold-start']).toBe('true');
    const stats = await provider.stats();
    expect(stats.functions['hello.openfaas-fn']).toMatchObject({ scaleCalls: 1, availableReplicas: 1 });
    expect(waker.logs().some((l) => l.event === 'ready')).toBe(true);

    const warm = await get(`http://127.0.0.1:${envoy.port}/function/hello`);
    expect(warm.status).toBe(200);
    expect((JSON.parse(warm.text) as { headers: Record<string, string> }).headers['x-faas-waker-cold-start']).toBeUndefined();

    // The CLI passes SIGTERM to node (PID 1 in the container): drain, grace, exit 0.
    expect(await waker.stop('SIGTERM')).toBe(0);
  });
});
