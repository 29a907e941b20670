#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildApp } from './app';
import { ConfigError, describeConfig, helpText, loadConfig } from './config/load';
import { createLogger } from './logging';

/** Process entry: config → app → start; SIGTERM/SIGINT → graceful stop → exit 0. Bad config → exit 2. */
async function main(): Promise<void> {
  let parsed;
  try {
    parsed = loadConfig({ env: process.env, argv: process.argv.slice(2) });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`faas-waker: ${err.message}\n\nRun with --help for every setting.\n`);
      process.exit(2);
    }
    throw err;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(`${helpText()}\n`);
    return;
  }
  const { config } = parsed;
  const logger = createLogger(config.logLevel);
  const version = packageVersion();
  const app = buildApp({ config, logger, version });
  const ports = await app.start();
  logger.info({ event: 'config', config: describeConfig(config) }, 'configuration');
  logger.info({ event: 'ready', version, node: process.version, grpcPort: ports.grpcPort, adminPort: ports.adminPort }, 'faas-waker ready');

  let stopping = false;
  const onSignal = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'shutdown.start', signal }, 'draining');
    app.stop().then(
      () => {
        logger.info({ event: 'shutdown.done' }, 'stopped');
        logger.flush();
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ event: 'shutdown.failed', err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`faas-waker: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
