import { describe, expect, it } from 'vitest';
import { instanceIdFor, registrationFor } from '../../../src/sidecar/container-registration.js';
import type { ContainerInspect } from '../../../src/sidecar/docker-api.js';

const ID = 'abcdef0123456789'.repeat(4);
const owner = { registrar: 'reg-1', container: ID };

function container(overrides: Partial<ContainerInspect> & { labels?: Record<string, string> } = {}): ContainerInspect {
  const { labels = { 'waypost.service': 'web' }, ...rest } = overrides;
  return {
    Id: ID,
    State: { Running: true },
    Config: { Labels: labels },
    NetworkSettings: { IPAddress: '172.17.0.4' },
    ...rest,
  } as ContainerInspect;
}

describe('registrationFor', () => {
  const cases: { name: string; container: ContainerInspect; advertiseHost?: string; expected: unknown }[] = [
    {
      name: 'maps the labels to a registration on the container IP',
      container: container({ labels: { 'waypost.service': 'web', 'waypost.port': '8080', 'waypost.weight': '7', 'waypost.tags': ' a, ,b ', 'waypost.zone': 'eu-1' } }),
      expected: { ok: true, input: { service: 'web', id: ID.slice(0, 12), host: '172.17.0.4', port: 8080, weight: 7, tags: ['a', 'b'], zone: 'eu-1', metadata: owner, ttl: 10 } },
    },
    {
      name: 'leaves weight, tags and zone to the registry defaults when there are no labels for them',
      container: container({ labels: { 'waypost.service': 'web', 'waypost.port': '80' } }),
      expected: { ok: true, input: { service: 'web', id: ID.slice(0, 12), host: '172.17.0.4', port: 80, metadata: owner, ttl: 10 } },
    },
    {
      name: 'passes a weight label that is not a number on as NaN, for the registry to refuse by name',
      container: container({ labels: { 'waypost.service': 'web', 'waypost.port': '80', 'waypost.weight': 'heavy' } }),
      expected: { ok: true, input: expect.objectContaining({ weight: NaN }) },
    },
    {
      name: 'takes the single exposed TCP port when there is no port label',
      container: container({ Config: { Labels: { 'waypost.service': 'web' }, ExposedPorts: { '9000/tcp': {}, '53/udp': {} } } }),
      expected: { ok: true, input: expect.objectContaining({ host: '172.17.0.4', port: 9000 }) },
    },
    {
      name: 'advertises the given host for a host-networked container',
      container: container({ labels: { 'waypost.service': 'web', 'waypost.port': '8080' }, HostConfig: { NetworkMode: 'host' } }),
      advertiseHost: '10.1.2.3',
      expected: { ok: true, input: expect.objectContaining({ host: '10.1.2.3', port: 8080 }) },
    },
    {
      name: 'uses the published host port, advertising the host when it is bound to every interface',
      container: container({
        labels: { 'waypost.service': 'web', 'waypost.port': '80' },
        NetworkSettings: { IPAddress: '', Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '32768' }] } },
      }),
      expected: { ok: true, input: expect.objectContaining({ host: '127.0.0.1', port: 32768 }) },
    },
    {
      name: 'uses the address a published port is bound to',
      container: container({
        labels: { 'waypost.service': 'web', 'waypost.port': '80' },
        NetworkSettings: { Ports: { '80/tcp': [{ HostIp: '10.0.0.9', HostPort: '8081' }] } },
      }),
      expected: { ok: true, input: expect.objectContaining({ host: '10.0.0.9', port: 8081 }) },
    },
    {
      name: 'finds the IP on a user-defined network',
      container: container({ labels: { 'waypost.service': 'web', 'waypost.port': '80' }, NetworkSettings: { IPAddress: '', Networks: { app: { IPAddress: '10.88.0.2' } } } }),
      expected: { ok: true, input: expect.objectContaining({ host: '10.88.0.2', port: 80 }) },
    },
    { name: 'skips a container without a service label', container: container({ labels: {} }), expected: { ok: false, reason: 'no waypost.service label' } },
    { name: 'skips a container that is not running', container: container({ State: { Running: false } }), expected: { ok: false, reason: 'not running' } },
    {
      name: 'skips a port label that is not a port',
      container: container({ labels: { 'waypost.service': 'web', 'waypost.port': '99999' } }),
      expected: { ok: false, reason: 'waypost.port label "99999" is not a port' },
    },
    { name: 'skips a container with no port label and no exposed port', container: container(), expected: { ok: false, reason: 'no waypost.port label and no exposed port' } },
    {
      name: 'skips a container with several exposed ports and no label saying which',
      container: container({ Config: { Labels: { 'waypost.service': 'web' }, ExposedPorts: { '80/tcp': {}, '443/tcp': {} } } }),
      expected: { ok: false, reason: 'no waypost.port label and 2 exposed ports (80, 443); say which' },
    },
    {
      name: 'skips a container with no IP and no published port',
      container: container({ labels: { 'waypost.service': 'web', 'waypost.port': '80' }, NetworkSettings: {} }),
      expected: { ok: false, reason: 'no reachable address for port 80 (no container IP and not published)' },
    },
  ];
  it.each(cases)('$name', ({ container: inspect, advertiseHost, expected }) => {
    expect(registrationFor(inspect, { registrarId: 'reg-1', ttl: 10, ...(advertiseHost ? { advertiseHost } : {}) })).toEqual(expected);
  });

  it('gives a container the same instance id every time: the first 12 characters of its id', () => {
    expect(instanceIdFor(ID)).toBe('abcdef012345');
    expect(instanceIdFor(ID)).toBe(instanceIdFor(ID));
  });
});
