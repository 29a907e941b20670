import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Test certificates made with the openssl CLI (Node 20 cannot issue X.509 certificates itself), in a
 * temp dir readable by anyone (0755 dir, 0644 files) so a containerized Envoy's unprivileged user can
 * read them too. EC P-256 keys: fast to generate on a loaded machine.
 */
export interface CertPair {
  readonly cert: string;
  readonly key: string;
}

export interface CertDir {
  readonly dir: string;
  /** A self-signed CA: `<name>.crt`, `<name>.key`. */
  ca(name: string): CertPair;
  /**
   * A leaf signed by `ca` with SANs DNS:<each dns>, IP:127.0.0.1 and IP:::1. `days` < 0 makes it
   * already expired (notAfter before now).
   */
  leaf(name: string, ca: CertPair, options?: { dns?: readonly string[]; days?: number; usage?: 'server' | 'client' }): CertPair;
  read(path: string): string;
  remove(): void;
}

export function certDir(prefix = 'faas-waker-certs-'): CertDir {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  const run = (args: readonly string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const readable = (...files: string[]): void => {
    for (const file of files) chmodSync(file, 0o644);
  };
  const keyArgs = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  return {
    dir,
    ca(name) {
      const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
      run(['req', '-x509', ...keyArgs, '-keyout', pair.key, '-out', pair.cert, '-days', '30', '-subj', `/CN=${name}`]);
      readable(pair.cert, pair.key);
      return pair;
    },
    leaf(name, ca, options = {}) {
      const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
      const csr = join(dir, `${name}.csr`);
      const ext = join(dir, `${name}.ext`);
      const sans = [...(options.dns ?? [name]).map((d) => `DNS:${d}`), 'IP:127.0.0.1', 'IP:::1'].join(',');
      const usage = options.usage === 'client' ? 'clientAuth' : options.usage === 'server' ? 'serverAuth' : 'serverAuth,clientAuth';
      writeFileSync(ext, `subjectAltName=${sans}\nextendedKeyUsage=${usage}\nbasicConstraints=CA:FALSE\n`);
      run(['req', ...keyArgs, '-keyout', pair.key, '-out', csr, '-subj', `/CN=${name}`]);
      run(
        ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', String(options.days ?? 30)].concat([
          '-extfile',
          ext,
          '-out',
          pair.cert,
        ]),
      );
      readable(pair.cert, pair.key);
      return pair;
    },
    read: (path) => readFileSync(path, 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
