/**
 * Eureka's REST API on the admin listener, under `/eureka/v2/` and `/eureka/`,
 * so Eureka clients (eureka-js-client, Spring Cloud Netflix) register with
 * Waypost by changing only their service URL. JSON only.
 *
 * Writes go to the same store, with the same validation (mapping.ts ends in
 * parseRegistration), token and CIDR guards as the native API; reads come from
 * the mirror (views.ts), so native instances show up too. Errors are bare status
 * codes, which is all Eureka clients look at (404 on a heartbeat makes them
 * register again).
 */
import type { ServerResponse } from 'node:http';
import type { TokenGuard } from '../../admin/auth.js';
import { sendJson } from '../../admin/body.js';
import type { ErrorFormat } from '../../admin/failure.js';
import { findInstance, settle } from '../../admin/registry-api.js';
import type { AdminHandler } from '../../admin/server.js';
import type { RegistrationTargets } from '../../admin/targets.js';
import { ErrorCodes, WaypostError, invalid } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { RegistryMirror } from '../../mirror/mirror.js';
import type { RegistryStore } from '../../registry/store.js';
import { parseRegistration } from '../../registry/validate.js';
import type { InstanceRecord, RegistrationInput } from '../../types.js';
import { dispatch, type CompatCall, type CompatDispatchOptions } from '../dispatch.js';
import { RouteTable } from '../route-table.js';
import { checkToken, readLenientJson, sendStatus } from '../shared.js';
import {
  EUREKA_META,
  idForInstance,
  isEurekaStatus,
  parseEurekaRegistration,
  sameForEureka,
  serviceForApp,
  toEurekaInstance,
  toWaypostStatus,
} from './mapping.js';
import { EurekaViews, applicationOf } from './views.js';

export interface EurekaApiOptions {
  store: RegistryStore;
  mirror: RegistryMirror;
  token: TokenGuard;
  targets: RegistrationTargets;
  maxBodyBytes: number;
  logger: Logger;
}

/** `/eureka/v2/` first: `/eureka/` is its prefix. */
const PREFIXES = ['/eureka/v2/', '/eureka/'] as const;

/** Eureka clients look only at the status. */
const eurekaErrors: ErrorFormat = {
  refusal: (res, err, headers) => sendStatus(res, err.status, headers),
  internal: (res) => sendStatus(res, 500),
};

export class EurekaApi {
  readonly #store: RegistryStore;
  readonly #mirror: RegistryMirror;
  readonly #targets: RegistrationTargets;
  readonly #maxBodyBytes: number;
  readonly #views: EurekaViews;
  readonly #routes: CompatDispatchOptions;

  constructor(options: EurekaApiOptions) {
    this.#store = options.store;
    this.#mirror = options.mirror;
    this.#targets = options.targets;
    this.#maxBodyBytes = options.maxBodyBytes;
    const views = new EurekaViews(options.mirror);
    this.#views = views;
    this.#routes = {
      table: new RouteTable<CompatCall>({
        'vips/:vip': { GET: ({ res }, [vip]) => sendJson(res, 200, views.vip(vip!, false)) },
        'svips/:vip': { GET: ({ res }, [vip]) => sendJson(res, 200, views.vip(vip!, true)) },
        apps: { GET: ({ res }) => sendJsonText(res, views.appsText()) },
        'apps/delta': { GET: ({ res }) => sendJson(res, 200, views.delta()) },
        'apps/:app': { GET: ({ res }, [app]) => this.#getApp(res, app!), POST: (call, [app]) => this.#register(call, app!) },
        'apps/:app/:instance': {
          GET: ({ res }, [app, instance]) => sendJson(res, 200, { instance: toEurekaInstance(this.#current(app!, instance!)) }),
          PUT: ({ res }, [app, instance]) => this.#heartbeat(res, app!, instance!),
          DELETE: ({ res }, [app, instance]) => this.#deregister(res, app!, instance!),
        },
        'apps/:app/:instance/status': {
          PUT: ({ res, query }, [app, instance]) => this.#overrideStatus(res, app!, instance!, query),
          DELETE: ({ res }, [app, instance]) => this.#removeOverride(res, this.#current(app!, instance!)),
        },
        'apps/:app/:instance/metadata': {
          PUT: ({ res, query }, [app, instance]) => this.#updateMetadata(res, this.#current(app!, instance!), query),
        },
      }),
      format: eurekaErrors,
      log: options.logger.child({ component: 'eureka' }),
      authorize: ({ req }) => checkToken(options.token, req.headers),
      ignoreEmptySegments: true,
      notFoundMessage: 'no such Eureka path',
    };
  }

  readonly handle: AdminHandler = async (req, res, { path, query, clientGone }) => {
    const prefix = PREFIXES.find((p) => path.startsWith(p));
    if (!prefix) return false;
    await dispatch({ req, res, query, clientGone }, path.slice(prefix.length - 1), this.#routes);
    return true;
  };

  close(): void {
    this.#views.close();
  }

  async #register({ req, res }: CompatCall, app: string): Promise<void> {
    const body = await readLenientJson(req, this.#maxBodyBytes, true);
    let input = parseEurekaRegistration(body, app);
    await this.#targets.check(input.host, input.port);
    // Eureka keeps a status override across re-registrations until it is removed.
    const existing = findInstance(this.#mirror.service(input.service), input.id!);
    const override = existing?.metadata[EUREKA_META.overriddenStatus];
    if (isEurekaStatus(override)) {
      input = { ...input, status: toWaypostStatus(override), metadata: { ...input.metadata, [EUREKA_META.overriddenStatus]: override } };
    }
    await this.#write(input);
    sendStatus(res, 204);
  }

  async #heartbeat(res: ServerResponse, app: string, instanceId: string): Promise<void> {
    const record = await this.#store.renew(serviceForApp(app), idForInstance(instanceId));
    if (!record) throw unknownInstance();
    sendStatus(res, 200);
  }

  async #deregister(res: ServerResponse, app: string, instanceId: string): Promise<void> {
    const service = serviceForApp(app);
    const id = idForInstance(instanceId);
    if (!(await this.#store.deregister(service, id))) throw unknownInstance();
    await settle(this.#mirror, service, (state) => findInstance(state, id) === undefined);
    sendStatus(res, 200);
  }

  async #overrideStatus(res: ServerResponse, app: string, instanceId: string, query: URLSearchParams): Promise<void> {
    const value = query.get('value');
    if (!isEurekaStatus(value)) throw invalid('value', 'value must be a Eureka status');
    const record = this.#current(app, instanceId);
    await this.#write(
      reRegistration(record, { status: toWaypostStatus(value), metadata: { ...record.metadata, [EUREKA_META.overriddenStatus]: value } }),
    );
    sendStatus(res, 200);
  }

  async #removeOverride(res: ServerResponse, record: InstanceRecord): Promise<void> {
    const { [EUREKA_META.overriddenStatus]: _removed, ...metadata } = record.metadata;
    const own = record.metadata[EUREKA_META.status];
    const status = isEurekaStatus(own) ? toWaypostStatus(own) : 'UP';
    await this.#write(reRegistration(record, { status, metadata }));
    sendStatus(res, 200);
  }

  async #updateMetadata(res: ServerResponse, record: InstanceRecord, query: URLSearchParams): Promise<void> {
    const metadata: Record<string, string> = { ...record.metadata };
    for (const [key, value] of query) {
      if (key.startsWith('eureka.')) throw invalid(`metadata.${key}`, 'metadata keys starting with "eureka." are reserved');
      metadata[key] = value;
    }
    await this.#write(reRegistration(record, { metadata }));
    sendStatus(res, 200);
  }

  #getApp(res: ServerResponse, app: string): void {
    const state = this.#mirror.service(serviceForApp(app));
    if (!state || state.instances.length === 0) throw unknownInstance();
    sendJson(res, 200, { application: applicationOf(state.instances) });
  }

  #current(app: string, instanceId: string): InstanceRecord {
    const record = findInstance(this.#mirror.service(serviceForApp(app)), idForInstance(instanceId));
    if (!record) throw unknownInstance();
    return record;
  }

  async #write(input: RegistrationInput): Promise<void> {
    const { record } = await this.#store.register(input);
    await settle(this.#mirror, record.service, (state) => {
      const seen = findInstance(state, record.id);
      return seen !== undefined && seen.registeredAt === record.registeredAt && sameForEureka(seen, record);
    });
  }
}

/** The record as a registration again, with `changes`, validated as any registration. */
function reRegistration(record: InstanceRecord, changes: Partial<RegistrationInput>): RegistrationInput {
  return parseRegistration(
    {
      id: record.id,
      host: record.host,
      port: record.port,
      weight: record.weight,
      zone: record.zone,
      tags: [...record.tags],
      metadata: { ...record.metadata },
      status: record.status,
      ttl: record.ttl,
      ...changes,
    },
    record.service,
  );
}

function unknownInstance(): WaypostError {
  return new WaypostError(ErrorCodes.NOT_FOUND, 'not registered (or the lease expired)');
}

/** A JSON answer serialised beforehand (the cached full registry). */
function sendJsonText(res: ServerResponse, text: string): void {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
