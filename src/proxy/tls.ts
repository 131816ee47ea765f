/**
 * TLS termination for HTTP listeners with `tls: true`: certificates per host
 * chosen by SNI (exact name, then `*.domain` covering one label), a default
 * certificate for clients without (or with an unknown) server name, and a
 * minimum protocol version (TLS 1.2 unless configured higher).
 *
 * Files are polled (fs.watchFile: it survives editors and tools that replace a
 * file by renaming a new one over it, which breaks fs.watch) and a change builds
 * a new SecureContext that only new handshakes use; open connections keep the
 * one they negotiated, so a reload never drops anything. A half-written pair
 * (new certificate, old key) fails to load and the previous context stays until
 * the other file changes too. A configuration reload replaces the whole set (prepare(),
 * then its commit): every file is read before anything changes, and again only new
 * handshakes see the result.
 */
import fs from 'node:fs';
import tls from 'node:tls';
import type { WaypostConfig } from '../config/schema.js';
import { describeError, WaypostError } from '../errors.js';
import type { Logger } from '../log.js';

/** How often certificate files are checked for changes. */
export const DEFAULT_RELOAD_INTERVAL_MS = 1_000;

export interface TlsCertificatesOptions {
  tls: WaypostConfig['tls'];
  logger: Logger;
  /** @default DEFAULT_RELOAD_INTERVAL_MS */
  reloadIntervalMs?: number;
}

interface LoadedCertificate {
  readonly index: number;
  readonly certFile: string;
  readonly keyFile: string;
  context: tls.SecureContext;
  /** PEM of the current pair, for setSecureContext on the default. */
  pem: { cert: Buffer; key: Buffer };
}

/** One configuration's certificates, loaded and indexed; replaced whole on reload. */
interface CertificateSet {
  readonly minVersion: tls.SecureVersion;
  readonly loaded: readonly LoadedCertificate[];
  readonly exact: ReadonlyMap<string, LoadedCertificate>;
  /** Key: the suffix with its leading dot (`.example.com` for `*.example.com`). */
  readonly wildcard: ReadonlyMap<string, LoadedCertificate>;
  readonly default: LoadedCertificate;
}

export class TlsCertificates {
  readonly #log: Logger;
  readonly #reloadIntervalMs: number;
  #set: CertificateSet;
  readonly #servers = new Set<tls.Server>();
  readonly #watched = new Set<string>();

  /** Loads every certificate now; throws WaypostError('startup') naming the file that failed. */
  constructor(options: TlsCertificatesOptions) {
    this.#log = options.logger.child({ component: 'tls' });
    this.#reloadIntervalMs = options.reloadIntervalMs ?? DEFAULT_RELOAD_INTERVAL_MS;
    this.#set = loadCertificates(options.tls);
    this.#watchFiles();
  }

  /**
   * A reloaded `tls` section: every certificate is read now (a failure throws naming
   * it, and nothing changes); the returned commit makes new handshakes use them.
   * Connections already established keep the certificate they negotiated.
   */
  prepare(config: WaypostConfig['tls']): () => void {
    const set = loadCertificates(config);
    return () => {
      this.#set = set;
      for (const server of this.#servers) this.#setDefault(server);
      this.#watchFiles();
    };
  }

  /** Options for https.createServer: default certificate, SNI selection, protocol floor. */
  serverOptions(): tls.TlsOptions {
    return {
      ...this.#set.default.pem,
      minVersion: this.#set.minVersion,
      SNICallback: this.SNICallback,
      ALPNProtocols: ['http/1.1'],
    };
  }

  /** Servers whose default certificate follows reloads. */
  attach(server: tls.Server): void {
    this.#servers.add(server);
  }

  /** A listener closed on reload. */
  detach(server: tls.Server): void {
    this.#servers.delete(server);
  }

  readonly SNICallback = (servername: string, callback: (err: Error | null, ctx?: tls.SecureContext) => void): void => {
    callback(null, this.contextFor(servername));
  };

  /** The SecureContext for a server name: exact, then wildcard (one label), then the default. */
  contextFor(servername: string): tls.SecureContext {
    const set = this.#set;
    const name = servername.toLowerCase();
    const exact = set.exact.get(name);
    if (exact !== undefined) return exact.context;
    const dot = name.indexOf('.');
    const wildcard = dot === -1 ? undefined : set.wildcard.get(name.slice(dot));
    return (wildcard ?? set.default).context;
  }

  /** Stops watching the files. */
  close(): void {
    for (const file of this.#watched) fs.unwatchFile(file);
    this.#watched.clear();
    this.#servers.clear();
  }

  #setDefault(server: tls.Server): void {
    server.setSecureContext({ ...this.#set.default.pem, minVersion: this.#set.minVersion });
  }

  /** Watches the files of the current set (and stops watching those no longer used). */
  #watchFiles(): void {
    const files = new Set(this.#set.loaded.flatMap((loaded) => [loaded.certFile, loaded.keyFile]));
    for (const file of this.#watched) {
      if (files.has(file)) continue;
      fs.unwatchFile(file);
      this.#watched.delete(file);
    }
    for (const file of files) {
      if (this.#watched.has(file)) continue;
      this.#watched.add(file);
      fs.watchFile(file, { interval: this.#reloadIntervalMs, persistent: false }, (current, previous) => {
        if (current.mtimeMs === previous.mtimeMs && current.ino === previous.ino && current.size === previous.size) return;
        for (const entry of this.#set.loaded) if (entry.certFile === file || entry.keyFile === file) this.#reload(entry);
      });
    }
  }

  #reload(loaded: LoadedCertificate): void {
    const set = this.#set;
    try {
      const pem = { cert: fs.readFileSync(loaded.certFile), key: fs.readFileSync(loaded.keyFile) };
      loaded.context = tls.createSecureContext({ ...pem, minVersion: set.minVersion });
      loaded.pem = pem;
      if (loaded === set.default) for (const server of this.#servers) this.#setDefault(server);
      this.#log.info({ certificate: loaded.index, cert: loaded.certFile }, 'certificate reloaded');
    } catch (err) {
      this.#log.warn({ certificate: loaded.index, cert: loaded.certFile, err: describeError(err) }, 'certificate reload failed; keeping the previous one');
    }
  }
}

/** Reads and indexes every certificate of `config`; throws WaypostError('startup') naming the one that failed. */
function loadCertificates(config: WaypostConfig['tls']): CertificateSet {
  const { certificates, minVersion } = config;
  if (certificates.length === 0) {
    throw new WaypostError('startup', 'a listener has tls: true but tls.certificates is empty', { field: 'tls.certificates' });
  }
  const loaded: LoadedCertificate[] = [];
  const exact = new Map<string, LoadedCertificate>();
  const wildcard = new Map<string, LoadedCertificate>();
  certificates.forEach((certificate, index) => {
    let pem: { cert: Buffer; key: Buffer };
    let context: tls.SecureContext;
    try {
      pem = { cert: fs.readFileSync(certificate.cert), key: fs.readFileSync(certificate.key) };
      context = tls.createSecureContext({ ...pem, minVersion });
    } catch (err) {
      throw new WaypostError('startup', `tls.certificates[${index}]: cannot load ${certificate.cert} / ${certificate.key}: ${describeError(err)}`, {
        field: `tls.certificates[${index}]`,
        cause: err,
      });
    }
    const entry: LoadedCertificate = { index, certFile: certificate.cert, keyFile: certificate.key, context, pem };
    loaded.push(entry);
    for (const host of certificate.hosts) {
      const name = host.toLowerCase();
      if (name.startsWith('*.')) wildcard.set(name.slice(1), entry);
      else exact.set(name, entry);
    }
  });
  const defaultEntry = loaded[certificates.findIndex((c) => c.default)] ?? loaded[0]!;
  return { minVersion, loaded, exact, wildcard, default: defaultEntry };
}
