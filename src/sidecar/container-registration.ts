/**
 * What the registrar registers for a container (DESIGN §3 `waypost registrar`):
 * the service from the `waypost.service` label, the port from `waypost.port` or
 * the single exposed port, and an address a proxy can reach: the advertised host
 * for host networking or a published port, else the container's own IP.
 */
import { describeError } from '../errors.js';
import { checkDeclaredRoutes } from '../registry/routes.js';
import { parseRouteSpecs } from '../registry/route-spec.js';
import type { DeclaredRoute, InstanceProtocol, RegistrationInput } from '../types.js';
import type { ContainerInspect } from './docker-api.js';

export const LABELS = {
  service: 'waypost.service',
  port: 'waypost.port',
  weight: 'waypost.weight',
  tags: 'waypost.tags',
  zone: 'waypost.zone',
  /** http1 | h2c | h2 (DESIGN §8). */
  protocol: 'waypost.protocol',
  /** Declared routes in `--route` syntax, several joined by ";" (registry/route-spec.ts). */
  route: 'waypost.route',
} as const;

/** Metadata keys that mark a registration as the registrar's own. */
export const OWNER_KEYS = { registrar: 'registrar', container: 'container' } as const;

export interface ContainerRegistrationOptions {
  readonly registrarId: string;
  /** Address for host-networked containers and published ports. @default 127.0.0.1 */
  readonly advertiseHost?: string;
  readonly ttl?: number;
}

export type ContainerRegistration =
  | { readonly ok: true; readonly input: RegistrationInput }
  | { readonly ok: false; readonly reason: string };

const UNSPECIFIED = new Set(['', '0.0.0.0', '::']);

export function registrationFor(container: ContainerInspect, options: ContainerRegistrationOptions): ContainerRegistration {
  const labels = container.Config?.Labels ?? {};
  const service = labels[LABELS.service];
  if (!service) return { ok: false, reason: `no ${LABELS.service} label` };
  if (container.State?.Running === false) return { ok: false, reason: 'not running' };

  const port = containerPort(container, labels[LABELS.port]);
  if (typeof port === 'string') return { ok: false, reason: port };
  const address = reachableAddress(container, port, options.advertiseHost ?? '127.0.0.1');
  if (!address) return { ok: false, reason: `no reachable address for port ${port} (no container IP and not published)` };

  const weightText = labels[LABELS.weight];
  const tags = (labels[LABELS.tags] ?? '')
    .split(',')
    .map((tag) => tag.trim())
    .filter((tag) => tag.length > 0);
  let routes: DeclaredRoute[] = [];
  const routeLabel = labels[LABELS.route];
  if (routeLabel !== undefined) {
    try {
      routes = checkDeclaredRoutes(parseRouteSpecs(routeLabel, LABELS.route), LABELS.route);
    } catch (err) {
      return { ok: false, reason: `${LABELS.route} label: ${describeError(err)}` };
    }
  }
  const input: RegistrationInput = {
    service,
    id: instanceIdFor(container.Id),
    host: address.host,
    port: address.port,
    metadata: { [OWNER_KEYS.registrar]: options.registrarId, [OWNER_KEYS.container]: container.Id },
    ...(weightText === undefined ? {} : { weight: /^\d+$/.test(weightText) ? Number(weightText) : NaN }),
    ...(tags.length === 0 ? {} : { tags }),
    ...(labels[LABELS.zone] === undefined ? {} : { zone: labels[LABELS.zone] }),
    // Checked by the registry like every field: a bad value is reported for this container.
    ...(labels[LABELS.protocol] === undefined ? {} : { protocol: labels[LABELS.protocol] as InstanceProtocol }),
    ...(options.ttl === undefined ? {} : { ttl: options.ttl }),
    ...(routes.length === 0 ? {} : { routes }),
  };
  return { ok: true, input };
}

/** Stable per container, so registering again updates the same instance. */
export function instanceIdFor(containerId: string): string {
  return containerId.slice(0, 12);
}

function containerPort(container: ContainerInspect, label: string | undefined): number | string {
  if (label !== undefined) {
    const port = Number(label);
    return Number.isInteger(port) && port >= 1 && port <= 65_535 ? port : `${LABELS.port} label "${label}" is not a port`;
  }
  const exposed = Object.keys(container.Config?.ExposedPorts ?? {});
  const candidates = exposed.length > 0 ? exposed : Object.keys(container.NetworkSettings?.Ports ?? {});
  const tcp = [...new Set(candidates.filter((key) => !key.endsWith('/udp')).map((key) => Number.parseInt(key, 10)))];
  if (tcp.length === 1 && tcp[0]! > 0) return tcp[0]!;
  return tcp.length === 0
    ? `no ${LABELS.port} label and no exposed port`
    : `no ${LABELS.port} label and ${tcp.length} exposed ports (${tcp.join(', ')}); say which`;
}

function reachableAddress(container: ContainerInspect, port: number, advertiseHost: string): { host: string; port: number } | undefined {
  if (container.HostConfig?.NetworkMode === 'host') return { host: advertiseHost, port };
  const binding = container.NetworkSettings?.Ports?.[`${port}/tcp`]?.find((b) => b.HostPort);
  if (binding?.HostPort) {
    return { host: UNSPECIFIED.has(binding.HostIp ?? '') ? advertiseHost : binding.HostIp!, port: Number(binding.HostPort) };
  }
  const settings = container.NetworkSettings;
  const ip = settings?.IPAddress || Object.values(settings?.Networks ?? {}).find((n) => n.IPAddress)?.IPAddress;
  return ip ? { host: ip, port } : undefined;
}
