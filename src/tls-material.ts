import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { firstLine } from './errors';
import type { Logger } from './logging';
import { realFileIo, rereadOnChange, type FileIo } from './reread-files';

/** Which file holds which part, and the setting that named it (for messages). */
export interface PemFile {
  readonly path: string;
  readonly setting: string;
}

export interface PemFiles {
  readonly ca?: PemFile;
  readonly cert?: PemFile;
  readonly key?: PemFile;
}

/** File contents, as node:tls takes them. A new object whenever anything changed. */
export interface PemMaterial {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

/** The current material: re-checked (a stat per file) on every call, re-read only when a file changed. */
export type PemSource = () => PemMaterial;

const PARTS = ['ca', 'cert', 'key'] as const;

/**
 * PEM files that may be rotated in place (cert-manager, a kubelet-mounted Secret), re-read when one
 * changed (reread-files.ts). New material is used only once it is complete and consistent (every
 * certificate parses, the key matches the certificate): a half-written rotation (the certificate
 * written, the key not yet) keeps the last good material, says so once, and is retried on the next
 * call. The first read throws instead, naming the setting: there is no good material to keep.
 */
export function pemFiles(files: PemFiles, what: string, logger: Logger, io: FileIo = realFileIo): PemSource {
  const present = PARTS.filter((part) => files[part] !== undefined);
  const paths = present.map((part) => (files[part] as PemFile).path);
  // Every file error names its setting: a stat on a re-check as much as a read at start.
  const settingOf = new Map(present.map((part) => [(files[part] as PemFile).path, (files[part] as PemFile).setting]));
  const named =
    (access: (path: string) => string) =>
    (path: string): string => {
      try {
        return access(path);
      } catch (err) {
        throw new Error(`${settingOf.get(path) ?? path}: cannot read ${path}: ${firstLine(err)}`, { cause: err });
      }
    };
  const namedIo: FileIo = { stamp: named((path) => io.stamp(path)), read: named((path) => io.read(path)) };
  const load = (read: (path: string) => string): PemMaterial => {
    const material: Record<string, string> = {};
    for (const part of present) material[part] = read((files[part] as PemFile).path);
    checkMaterial(material, files);
    return material;
  };
  const source = rereadOnChange(paths, {
    loadNow: true, // the first read throws, naming the setting: there is no good material to keep
    io: namedIo,
    load,
    loaded: (next, previous) => {
      if (PARTS.every((part) => next[part] === previous[part])) return previous; // touched, not changed
      logLoaded(logger, what, next, 'reloaded');
      return next;
    },
    failed: (err, last, first) => {
      if (first)
        logger.warn(
          { event: 'tls.files_unusable', what, err: firstLine(err) },
          `cannot use the changed ${what} files: keeping the last good certificates`,
        );
      return last;
    },
  });
  logLoaded(logger, what, source(), 'loaded');
  return source;
}

/** Throws, naming the setting, unless every certificate parses and the key belongs to the certificate. */
function checkMaterial(material: PemMaterial, files: PemFiles): void {
  for (const part of ['ca', 'cert'] as const) {
    const pem = material[part];
    if (pem === undefined) continue;
    const setting = files[part]?.setting ?? part;
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    const begins = pem.match(/-----BEGIN /g)?.length ?? 0;
    if (blocks.length === 0) throw new Error(`${setting}: no PEM certificate in ${files[part]?.path ?? part}`);
    if (part === 'ca' && begins !== blocks.length) throw new Error(`${setting}: an incomplete PEM block in ${files[part]?.path ?? part}`);
    for (const block of blocks) {
      try {
        new X509Certificate(block);
      } catch (err) {
        throw new Error(`${setting}: a certificate in ${files[part]?.path ?? part} does not parse: ${firstLine(err)}`, { cause: err });
      }
    }
  }
  if (material.cert !== undefined || material.key !== undefined) {
    try {
      createSecureContext({ cert: material.cert, key: material.key });
    } catch (err) {
      const names = [files.cert?.setting, files.key?.setting].filter((s) => s !== undefined).join(' / ');
      throw new Error(`${names}: ${firstLine(err)}`, { cause: err });
    }
  }
}

/** Certificate lifetimes in the log: an operator sees what a rotation brought and when it runs out. */
function logLoaded(logger: Logger, what: string, material: PemMaterial, verb: 'loaded' | 'reloaded'): void {
  const cert = material.cert === undefined ? undefined : new X509Certificate(material.cert);
  const expired = cert !== undefined && Date.parse(cert.validTo) < Date.now();
  const fields = {
    event: verb === 'loaded' ? 'tls.files_loaded' : 'tls.files_reloaded',
    what,
    ...(cert === undefined ? {} : { subject: cert.subject.replace(/\n/g, ', '), validTo: cert.validTo, expired }),
    caCertificates: material.ca?.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0,
  };
  if (expired) logger.warn(fields, `${what}: the certificate has expired: peers will refuse it`);
  else
    logger.info(
      fields,
      verb === 'loaded' ? `${what}: certificates loaded` : `${what}: certificates changed on disk: new connections use them`,
    );
}
