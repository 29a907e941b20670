import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config/parse';

export type { Logger };

/** The one root logger (JSON lines). Created at start and passed down; children bind context. */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'faas-waker' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Credentials must never reach a log line, whatever object gets logged by mistake.
      redact: {
        paths: ['authorization', '*.authorization', 'password', '*.password', 'providerAuth', '*.providerAuth'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
