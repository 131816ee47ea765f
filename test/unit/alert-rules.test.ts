/**
 * config/prometheus/alerts.yml is valid, loaded by config/prometheus.yml (and mounted where
 * docker-compose.yml's Prometheus finds it), every alert carries what an on-call person needs,
 * and `promtool test rules` (alerts.test.yml: each alert fires, and stays silent on its near
 * misses) passes. promtool comes with Debian's `prometheus` package (scripts/setup.mjs installs it).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, test } from 'vitest';
import { Metrics } from '../../src/metrics.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const RULES = 'config/prometheus/alerts.yml';
const RULE_TESTS = 'config/prometheus/alerts.test.yml';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const readYaml = <T>(file: string): T => parse(readFileSync(path.join(ROOT, file), 'utf8')) as T;
const rules = readYaml<{ groups: { name: string; rules: Rule[] }[] }>(RULES).groups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert !== undefined);

function promtool(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw new Error(`promtool could not run (${result.error.message}); install Debian's prometheus package`);
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('alert rules', () => {
  test('promtool check rules accepts the file', () => {
    const { status, output } = promtool('check', 'rules', RULES);
    expect(output).toContain('SUCCESS');
    expect(status, output).toBe(0);
  });

  test('promtool test rules: every alert fires when it should and not otherwise', () => {
    const { status, output } = promtool('test', 'rules', RULE_TESTS);
    expect(status, output).toBe(0);
    expect(output).toContain('SUCCESS');
  });

  test('every alert has a unit test that expects it to fire and one that expects silence', () => {
    const tests = readYaml<{ tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[] }>(RULE_TESTS).tests;
    const cases = tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const { alert } of alerts) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${alert} fires in a test`).toBe(true);
      expect(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${alert} stays silent in a test`).toBe(true);
    }
  });

  test('the issue\'s alerts exist, each with a severity, a summary, a description and a runbook', () => {
    expect(alerts.map((a) => a.alert).sort()).toEqual([
      'WaypostEjectionsSpiking',
      'WaypostErrorBudgetFastBurn',
      'WaypostErrorBudgetSlowBurn',
      'WaypostProxyNotReady',
      'WaypostRegistryDisconnected',
      'WaypostSelfPreservationActive',
      'WaypostServiceNoHealthyInstance',
    ]);
    for (const alert of alerts) {
      expect(['critical', 'warning'], alert.alert).toContain(alert.labels?.severity);
      for (const key of ['summary', 'description', 'runbook']) expect(alert.annotations?.[key]?.length, `${alert.alert} ${key}`).toBeGreaterThan(40 * Number(key !== 'summary'));
    }
  });

  test('README lists every alert', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Alerting'), readme.indexOf('\n## ', readme.indexOf('## Alerting') + 1));
    for (const { alert, labels } of alerts) expect(section, alert).toContain(`| \`${alert}\` | ${labels?.severity} |`);
  });

  test('the availability objective is one constant the burn-rate alerts read', () => {
    const objective = rules.find((r) => r.record === 'waypost:slo_objective:ratio');
    expect(objective?.expr).toMatch(/^vector\(0\.\d+\)$/);
    for (const alert of alerts.filter((a) => a.alert!.startsWith('WaypostErrorBudget'))) {
      expect(alert.expr).toContain('scalar(waypost:slo_error_budget:ratio)');
      expect(alert.expr).not.toMatch(/0\.00\d/);
    }
  });

  test('every waypost_ metric a rule reads exists in src/metrics.ts (counters through rate or increase)', () => {
    const metrics = new Metrics({ processMetrics: false });
    const types = new Map(metrics.registry.getMetricsAsArray().map((m) => [m.name, (m as unknown as { type: string }).type]));
    for (const rule of rules) {
      for (const [name] of rule.expr.matchAll(/(?<![:\w])waypost_[a-z0-9_]+/g)) {
        expect(types.get(name), `${name} in ${rule.alert ?? rule.record}`).toBeDefined();
        if (types.get(name) === 'counter') expect(rule.expr, name).toMatch(new RegExp(`(rate|increase)\\(${name}\\b`));
      }
    }
  });
});

describe('config/prometheus.yml', () => {
  test('loads the rules file, and docker-compose.yml mounts it where that path points', () => {
    const { status, output } = promtool('check', 'config', 'config/prometheus.yml');
    expect(status, output).toBe(0);
    expect(output).toContain(RULES);
    const prometheus = readYaml<{ rule_files: string[] }>('config/prometheus.yml');
    expect(prometheus.rule_files).toEqual(['prometheus/alerts.yml']);
    const compose = readYaml<{ services: { prometheus: { volumes: string[] } } }>('docker-compose.yml');
    expect(compose.services.prometheus.volumes).toEqual(
      expect.arrayContaining(['./config/prometheus.yml:/etc/prometheus/prometheus.yml:ro', './config/prometheus:/etc/prometheus/prometheus:ro']),
    );
  });
});
