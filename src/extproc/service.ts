import type { ServiceDefinition } from '@grpc/grpc-js';
import { ExternalProcessorService } from '../gen/envoy/service/ext_proc/v3/external_processor';
import { decodeIncoming, type Incoming } from './wire';

/**
 * The generated ExternalProcessor service with our own (de)serializers: requests are scanned for
 * the two headers we need (wire.ts) and responses are pre-encoded Buffers written as they are.
 */
export const ExtProcService = {
  process: {
    ...ExternalProcessorService.process,
    requestDeserialize: (bytes: Buffer): Incoming => decodeIncoming(bytes),
    requestSerialize: (): Buffer => {
      throw new Error('server-side definition: requests are never serialized here');
    },
    responseSerialize: (bytes: Buffer): Buffer => bytes,
    responseDeserialize: (bytes: Buffer): Buffer => bytes,
  },
} satisfies ServiceDefinition;
