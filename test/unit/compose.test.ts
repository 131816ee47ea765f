/**
 * The operations files agree with each other and with the code: docker-compose.yml
 * (references, volumes, ports, tokens), config/prometheus.yml (targets are the
 * compose proxies' admin ports), the Grafana provisioning and dashboard (every
 * metric it queries exists in src/metrics.ts, histograms through their series),
 * and the Dockerfile. `docker compose config -q` runs too when a compose CLI is
 * installed; without one that single check is left out.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, test } from 'vitest';
import { Metrics } from '../../src/metrics.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const readYaml = (file: string) => parse(read(file), { merge: true }) as Record<string, unknown>;

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  ports?: unknown[];
  volumes?: string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: unknown };
}

const compose = readYaml('docker-compose.yml') as { services: Record<string, ComposeService>; volumes?: Record<string, unknown> };
const services = compose.services;
const serviceNames = Object.keys(services);
const dependencies = (s: ComposeService): [string, string | undefined][] =>
  Array.isArray(s.depends_on) ? s.depends_on.map((name) => [name, undefined]) : Object.entries(s.depends_on ?? {}).map(([name, d]) => [name, d?.condition]);
const flag = (s: ComposeService, name: string): string | undefined => {
  const args = s.command ?? [];
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const proxies = serviceNames.filter((name) => services[name]!.command?.[0] === 'proxy');
const sidecars = serviceNames.filter((name) => services[name]!.command?.[0] === 'register');

describe('docker-compose.yml', () => {
  test('has Redis, two proxies on one Redis, two demo services with a sidecar each, Prometheus and Grafana', () => {
    expect(proxies).toEqual(['proxy1', 'proxy2']);
    for (const proxy of proxies) expect(flag(services[proxy]!, '--redis')).toBe('redis://redis:6379');
    expect(sidecars.map((name) => flag(services[name]!, '--service'))).toEqual(['orders', 'users']);
    for (const name of ['redis', 'orders', 'users', 'prometheus', 'grafana']) expect(serviceNames).toContain(name);
  });

  test('every service has an image or a build', () => {
    for (const name of serviceNames) expect(services[name]!.image ?? services[name]!.build, name).toBeDefined();
  });

  test('every depends_on target exists, and a service_healthy target has a healthcheck', () => {
    for (const name of serviceNames) {
      for (const [target, condition] of dependencies(services[name]!)) {
        expect(serviceNames, `${name} depends on ${target}`).toContain(target);
        expect(['service_started', 'service_healthy', 'service_completed_successfully'], `${name} → ${target}`).toContain(condition);
        if (condition === 'service_healthy') expect(services[target]!.healthcheck?.test, `${target} healthcheck`).toBeDefined();
      }
    }
  });

  test('every named volume used is declared and every bind-mounted file exists', () => {
    const declared = Object.keys(compose.volumes ?? {});
    for (const name of serviceNames) {
      for (const volume of services[name]!.volumes ?? []) {
        const source = volume.split(':', 1)[0]!;
        if (source.startsWith('.') || source.startsWith('/')) expect(existsSync(path.join(ROOT, source)), `${name}: ${source}`).toBe(true);
        else expect(declared, `${name}: volume ${source}`).toContain(source);
      }
    }
  });

  test('ports are strings and bind to the loopback address only', () => {
    for (const name of serviceNames) {
      for (const port of services[name]!.ports ?? []) {
        expect(typeof port, `${name}: ${String(port)}`).toBe('string');
        expect(port, name).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
      }
    }
  });

  test('proxies with a non-loopback admin listener and every sidecar require an admin token', () => {
    for (const name of [...proxies, ...sidecars]) {
      const admin = flag(services[name]!, '--admin');
      if (admin !== undefined && admin.startsWith('127.')) continue;
      // `:?` makes compose refuse to start while the variable is unset or empty.
      expect(services[name]!.environment?.WAYPOST_ADMIN_TOKEN, name).toMatch(/^\$\{WAYPOST_ADMIN_TOKEN:\?.+\}$/);
    }
  });

  test('sidecars register with a proxy of this stack and check their app over HTTP', () => {
    for (const name of sidecars) {
      const sidecar = services[name]!;
      const registry = new URL(flag(sidecar, '--registry')!);
      expect(proxies).toContain(registry.hostname);
      expect(registry.port).toBe(flag(services[registry.hostname]!, '--admin')!.split(':')[1]);
      expect(flag(sidecar, '--check-path')).toBe('/healthz');
      const [app] = flag(sidecar, '--address')!.split(':');
      expect(dependencies(sidecar)).toEqual(expect.arrayContaining([[registry.hostname, 'service_healthy'], [app, 'service_healthy']]));
    }
  });

  const composeCli = findComposeCli();
  if (composeCli) {
    test(`${composeCli.join(' ')} config -q accepts the file`, () => {
      const result = spawnSync(composeCli[0]!, [...composeCli.slice(1), '-f', 'docker-compose.yml', 'config', '-q'], {
        cwd: ROOT,
        env: { ...process.env, WAYPOST_ADMIN_TOKEN: 'compose-test-token' },
        encoding: 'utf8',
      });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
    });
  }
});

describe('config/prometheus.yml', () => {
  test('scrapes exactly the compose proxies on their admin ports', () => {
    const prometheus = readYaml('config/prometheus.yml') as {
      scrape_configs: { metrics_path?: string; static_configs: { targets: string[] }[] }[];
    };
    const targets = prometheus.scrape_configs.flatMap((job) => {
      expect(job.metrics_path ?? '/metrics').toBe('/metrics');
      return job.static_configs.flatMap((c) => c.targets);
    });
    const expected = proxies.map((name) => `${name}:${flag(services[name]!, '--admin')!.split(':')[1]}`);
    expect(targets.sort()).toEqual(expected.sort());
    expect(services.prometheus!.volumes).toContain('./config/prometheus.yml:/etc/prometheus/prometheus.yml:ro');
  });
});

describe('Grafana provisioning and dashboard', () => {
  const dashboard = JSON.parse(read('config/grafana/dashboards/waypost.json')) as Record<string, unknown>;
  const metrics = new Metrics({ processMetrics: false });
  const types = new Map(metrics.registry.getMetricsAsArray().map((m) => [m.name, (m as unknown as { type: string }).type]));
  const queries = collectQueries(dashboard);

  test('every metric a query names exists in src/metrics.ts, and histograms are read through _bucket, _sum or _count', () => {
    expect(queries.length).toBeGreaterThan(10);
    const used = new Set<string>();
    for (const query of queries) {
      for (const [name] of query.matchAll(/\bwaypost_[a-z0-9_]+/g)) {
        used.add(name);
        const histogram = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1];
        if (histogram !== undefined && types.get(histogram) === 'histogram') continue;
        expect(types.get(name), `${name} in ${query}`).toBeDefined();
        expect(types.get(name), `${name} is a histogram; query its _bucket, _sum or _count`).not.toBe('histogram');
      }
    }
    // The panels the issue asks for: rate, errors, p99, endpoints, ejections, panic, connection, propagation.
    for (const name of [
      'waypost_requests_total',
      'waypost_request_duration_seconds_bucket',
      'waypost_endpoints',
      'waypost_ejections_total',
      'waypost_panic_mode',
      'waypost_registry_connected',
      'waypost_registry_propagation_seconds_bucket',
    ]) {
      expect(used, name).toContain(name);
    }
  });

  test('rate() and increase() only read counters and histogram series', () => {
    for (const query of queries) {
      for (const [, name] of query.matchAll(/\b(?:rate|increase)\(\s*([a-z_:][a-z0-9_:]*)/g)) {
        const type = types.get(name!) ?? (/_(bucket|sum|count)$/.test(name!) ? types.get(name!.replace(/_(bucket|sum|count)$/, '')) : undefined);
        expect(['counter', 'histogram'], `${name} in ${query}`).toContain(type);
      }
    }
  });

  test('panels use the provisioned Prometheus datasource and the dashboard folder is the one compose mounts', () => {
    const datasources = readYaml('config/grafana/provisioning/datasources/prometheus.yml') as { datasources: { uid: string; url: string }[] };
    const [prometheus] = datasources.datasources;
    expect(prometheus!.url).toBe('http://prometheus:9090');
    const uids = new Set(JSON.stringify(dashboard).match(/"uid":"[^"]+"/g) ?? []);
    for (const panel of dashboard.panels as { type: string; datasource?: { uid: string } }[]) {
      if (panel.type !== 'row') expect(panel.datasource?.uid).toBe(prometheus!.uid);
    }
    expect(uids.size).toBeGreaterThan(0);

    const providers = readYaml('config/grafana/provisioning/dashboards/waypost.yml') as { providers: { options: { path: string } }[] };
    const mounted = services.grafana!.volumes!.map((v) => v.split(':'));
    expect(mounted).toContainEqual(['./config/grafana/dashboards', providers.providers[0]!.options.path, 'ro']);
    expect(mounted).toContainEqual(['./config/grafana/provisioning', '/etc/grafana/provisioning', 'ro']);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');

  test('builds in one stage and runs production dependencies as a non-root user in another', () => {
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(dockerfile).toMatch(/^RUN npm run build$/m);
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev\b/m);
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
    const user = /^USER (\S+)$/m.exec(dockerfile)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(dockerfile).toContain('ENTRYPOINT ["node", "dist/cli.js"]');
    expect(dockerfile).toContain('CMD ["proxy"]');
  });

  test('.dockerignore keeps the host’s node_modules, build output and git history out of the context', () => {
    const ignored = read('.dockerignore').split('\n').map((line) => line.trim());
    for (const entry of ['node_modules', 'dist', '.git', 'test-results']) expect(ignored).toContain(entry);
  });
});

/** Every PromQL string in the dashboard: panel targets and template-variable queries. */
function collectQueries(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) collectQueries(item, out);
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if ((key === 'expr' || key === 'query' || key === 'definition') && typeof value === 'string') out.push(value);
      else collectQueries(value, out);
    }
  }
  return out;
}

/** `docker compose` or `docker-compose`, whichever works here; undefined when neither does. */
function findComposeCli(): string[] | undefined {
  for (const cli of [['docker', 'compose'], ['docker-compose']]) {
    const result = spawnSync(cli[0]!, [...cli.slice(1), 'version'], { stdio: 'ignore', timeout: 10_000 });
    if (result.status === 0) return cli;
  }
  return undefined;
}
