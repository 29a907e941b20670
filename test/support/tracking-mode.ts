import {
  ProcessingMode_HeaderSendMode,
  type ProcessingMode,
} from '../../src/gen/envoy/extensions/filters/http/ext_proc/v3/processing_mode';

/**
 * The mode_override of a tracked CONTINUE as the generated decoder reads it: exactly the one entry
 * envoy.yaml allows (request trailers left unset, so DEFAULT here).
 */
export const DECODED_TRACKING_MODE: ProcessingMode = {
  requestHeaderMode: ProcessingMode_HeaderSendMode.SEND,
  responseHeaderMode: ProcessingMode_HeaderSendMode.SKIP,
  requestBodyMode: 0,
  responseBodyMode: 0,
  requestTrailerMode: ProcessingMode_HeaderSendMode.DEFAULT,
  responseTrailerMode: ProcessingMode_HeaderSendMode.SEND,
};
