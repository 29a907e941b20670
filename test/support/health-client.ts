import { credentials, loadPackageDefinition, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';

/** A grpc.health.v1 client built at run time (proto-loader) from the proto grpc-health-check ships. */
export interface HealthClient {
  Check(req: { service: string }, cb: (err: (Error & { code?: number }) | null, res?: { status: string }) => void): void;
  Watch(req: { service: string }): NodeJS.EventEmitter & { cancel(): void };
  close(): void;
}

export function healthClient(port: number): HealthClient {
  const pkg = loadPackageDefinition(loadSync(protoPath, { keepCase: true, enums: String })) as unknown as {
    grpc: { health: { v1: { Health: ServiceClientConstructor } } };
  };
  return new pkg.grpc.health.v1.Health(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as HealthClient;
}

/** The status for `service`, or `error <grpc code>`. */
export function check(client: HealthClient, service: string): Promise<string> {
  return new Promise((resolve) =>
    client.Check({ service }, (err, res) => resolve(err ? `error ${err.code ?? '?'}` : (res?.status ?? 'none'))),
  );
}
