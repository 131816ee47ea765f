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
 * the other file changes too.
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

export class TlsCertificates {
  readonly #minVersion: tls.SecureVersion;
  readonly #log: Logger;
  readonly #reloadIntervalMs: number;
  readonly #loaded: LoadedCertificate[] = [];
  readonly #exact = new Map<string, LoadedCertificate>();
  /** Key: the suffix with its leading dot (`.example.com` for `*.example.com`). */
  readonly #wildcard = new Map<string, LoadedCertificate>();
  readonly #default: LoadedCertificate;
  readonly #servers = new Set<tls.Server>();
  readonly #watched: string[] = [];

  /** Loads every certificate now; throws WaypostError('startup') naming the file that failed. */
  constructor(options: TlsCertificatesOptions) {
    this.#minVersion = options.tls.minVersion;
    this.#log = options.logger.child({ component: 'tls' });
    this.#reloadIntervalMs = options.reloadIntervalMs ?? DEFAULT_RELOAD_INTERVAL_MS;
    const certificates = options.tls.certificates;
    if (certificates.length === 0) {
      throw new WaypostError('startup', 'a listener has tls: true but tls.certificates is empty', { field: 'tls.certificates' });
    }
    certificates.forEach((certificate, index) => {
      let pem: { cert: Buffer; key: Buffer };
      let context: tls.SecureContext;
      try {
        pem = { cert: fs.readFileSync(certificate.cert), key: fs.readFileSync(certificate.key) };
        context = this.#context(pem);
      } catch (err) {
        throw new WaypostError('startup', `tls.certificates[${index}]: cannot load ${certificate.cert} / ${certificate.key}: ${describeError(err)}`, {
          field: `tls.certificates[${index}]`,
          cause: err,
        });
      }
      const loaded: LoadedCertificate = { index, certFile: certificate.cert, keyFile: certificate.key, context, pem };
      this.#loaded.push(loaded);
      for (const host of certificate.hosts) {
        const name = host.toLowerCase();
        if (name.startsWith('*.')) this.#wildcard.set(name.slice(1), loaded);
        else this.#exact.set(name, loaded);
      }
    });
    this.#default = this.#loaded[certificates.findIndex((c) => c.default)] ?? this.#loaded[0]!;
    for (const loaded of this.#loaded) this.#watch(loaded);
  }

  /** Options for https.createServer: default certificate, SNI selection, protocol floor. */
  serverOptions(): tls.TlsOptions {
    return {
      ...this.#default.pem,
      minVersion: this.#minVersion,
      SNICallback: this.SNICallback,
      ALPNProtocols: ['http/1.1'],
    };
  }

  /** Servers whose default certificate follows reloads. */
  attach(server: tls.Server): void {
    this.#servers.add(server);
  }

  readonly SNICallback = (servername: string, callback: (err: Error | null, ctx?: tls.SecureContext) => void): void => {
    callback(null, this.contextFor(servername));
  };

  /** The SecureContext for a server name: exact, then wildcard (one label), then the default. */
  contextFor(servername: string): tls.SecureContext {
    const name = servername.toLowerCase();
    const exact = this.#exact.get(name);
    if (exact !== undefined) return exact.context;
    const dot = name.indexOf('.');
    const wildcard = dot === -1 ? undefined : this.#wildcard.get(name.slice(dot));
    return (wildcard ?? this.#default).context;
  }

  /** Stops watching the files. */
  close(): void {
    for (const file of this.#watched) fs.unwatchFile(file);
    this.#watched.length = 0;
    this.#servers.clear();
  }

  #context(pem: { cert: Buffer; key: Buffer }): tls.SecureContext {
    return tls.createSecureContext({ ...pem, minVersion: this.#minVersion });
  }

  #watch(loaded: LoadedCertificate): void {
    for (const file of [loaded.certFile, loaded.keyFile]) {
      if (this.#watched.includes(file)) continue;
      this.#watched.push(file);
      fs.watchFile(file, { interval: this.#reloadIntervalMs, persistent: false }, (current, previous) => {
        if (current.mtimeMs === previous.mtimeMs && current.ino === previous.ino && current.size === previous.size) return;
        for (const entry of this.#loaded) if (entry.certFile === file || entry.keyFile === file) this.#reload(entry);
      });
    }
  }

  #reload(loaded: LoadedCertificate): void {
    try {
      const pem = { cert: fs.readFileSync(loaded.certFile), key: fs.readFileSync(loaded.keyFile) };
      loaded.context = this.#context(pem);
      loaded.pem = pem;
      if (loaded === this.#default) for (const server of this.#servers) server.setSecureContext({ ...pem, minVersion: this.#minVersion });
      this.#log.info({ certificate: loaded.index, cert: loaded.certFile }, 'certificate reloaded');
    } catch (err) {
      this.#log.warn({ certificate: loaded.index, cert: loaded.certFile, err: describeError(err) }, 'certificate reload failed; keeping the previous one');
    }
  }
}
