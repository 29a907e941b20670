import { chromium, type Browser } from 'playwright-core';
import { accessSync, constants } from 'node:fs';

/** Debian's `chromium` package (scripts/install-chromium.mjs installs it); CHROMIUM_BIN points elsewhere. */
const DEFAULT_CHROMIUM = '/usr/bin/chromium';

function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  const bin = env.CHROMIUM_BIN !== undefined && env.CHROMIUM_BIN !== '' ? env.CHROMIUM_BIN : DEFAULT_CHROMIUM;
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    // A missing browser is a failure with the fix in the message, never a skip.
    throw new Error(`no Chromium at ${bin}: run \`node scripts/install-chromium.mjs\` (npm test does), or set CHROMIUM_BIN`);
  }
  return bin;
}

/**
 * Headless Chromium through playwright-core (which ships no browser of its own). `--no-sandbox`: the
 * tests run as root in a container, where Chromium's sandbox cannot start; the pages are our own,
 * served from loopback. `--disable-dev-shm-usage`: a container's /dev/shm is often too small.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-proxy-server'],
    // A loaded 2-core machine can take a while to start a browser.
    timeout: 120_000,
  });
}
