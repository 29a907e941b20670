import { credentials, makeGenericClientConstructor, type ClientDuplexStream, type ServiceDefinition } from '@grpc/grpc-js';
import { ProcessingRequest, ProcessingResponse } from '../../src/gen/envoy/service/ext_proc/v3/external_processor';

/** envoy.service.ext_proc.v3.ExternalProcessor: its one method, coded with the generated messages. */
const ExternalProcessorService = {
  process: {
    path: '/envoy.service.ext_proc.v3.ExternalProcessor/Process',
    requestStream: true,
    responseStream: true,
    requestSerialize: (msg: ProcessingRequest) => Buffer.from(ProcessingRequest.encode(msg).finish()),
    requestDeserialize: (bytes: Buffer) => ProcessingRequest.decode(bytes),
    responseSerialize: (msg: ProcessingResponse) => Buffer.from(ProcessingResponse.encode(msg).finish()),
    responseDeserialize: (bytes: Buffer) => ProcessingResponse.decode(bytes),
  },
} satisfies ServiceDefinition;

/** A gRPC client that talks to faas-waker the way Envoy does: one stream per request, values in raw_value. */
export class EnvoyLikeClient {
  private readonly client;

  constructor(port: number) {
    const Ctor = makeGenericClientConstructor(ExternalProcessorService, 'ExternalProcessor');
    this.client = new Ctor(`127.0.0.1:${port}`, credentials.createInsecure());
  }

  open(): Exchange {
    const call = (this.client as unknown as { process(): ClientDuplexStream<ProcessingRequest, ProcessingResponse> }).process();
    return new Exchange(call);
  }

  close(): void {
    this.client.close();
  }
}

export function requestHeaders(path: string, extra: Record<string, string> = {}): ProcessingRequest {
  const headers = Object.entries({ ':path': path, ':method': 'GET', ':authority': 'test', 'x-request-id': 'rid-1', ...extra }).map(
    ([key, value]) => ({
      key,
      value: '',
      rawValue: Buffer.from(value, 'latin1'),
    }),
  );
  return ProcessingRequest.fromPartial({ request: { $case: 'requestHeaders', value: { headers: { headers }, endOfStream: true } } });
}

export class Exchange {
  readonly received: ProcessingResponse[] = [];
  private waiters: (() => void)[] = [];
  readonly ended: Promise<string>;

  constructor(readonly call: ClientDuplexStream<ProcessingRequest, ProcessingResponse>) {
    call.on('data', (msg: ProcessingResponse) => {
      this.received.push(msg);
      for (const w of this.waiters.splice(0)) w();
    });
    this.ended = new Promise((resolve) => {
      call.on('status', (s: { code: number }) => resolve(`status ${s.code}`));
      call.on('error', () => undefined);
    });
  }

  send(msg: ProcessingRequest): void {
    this.call.write(msg);
  }

  /** Resolves with the n-th response (1-based), or rejects after `timeoutMs` (a safety net, not a measurement). */
  async nth(n: number, timeoutMs = 30_000): Promise<ProcessingResponse> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < n) {
      if (Date.now() > deadline) throw new Error(`only ${this.received.length} responses after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return this.received[n - 1] as ProcessingResponse;
  }

  /** What Envoy does when it needs nothing more, or (graceful close) when the client left. */
  halfClose(): void {
    this.call.end();
  }

  /** What Envoy does without graceful close: RST_STREAM, seen as CANCELLED by the server. */
  cancel(): void {
    this.call.cancel();
  }
}
