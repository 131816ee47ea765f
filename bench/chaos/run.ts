/**
 * `npm run chaos [-- --quick] [-- --only NAME]`: runs every chaos scenario against
 * real processes (built CLI in dist/, redis-server from PATH), prints each
 * result as it lands and writes the table to bench/results/chaos.md.
 * Exit code 1 when a scenario did not hold its expectation.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../../test/helpers/cli.js';
import { SCENARIOS } from './scenarios.js';
import type { ScenarioResult } from './lib.js';

const quick = process.argv.includes('--quick');
const onlyIndex = process.argv.indexOf('--only');
const only = onlyIndex === -1 ? undefined : process.argv[onlyIndex + 1];

const results: ScenarioResult[] = [];
for (const scenario of SCENARIOS) {
  if (only && scenario.key !== only) continue;
  process.stdout.write(`${scenario.key}: running${quick ? ' (quick)' : ''}\n`);
  const started = Date.now();
  let result: ScenarioResult;
  try {
    result = await scenario.run({ quick, log: (line) => process.stdout.write(`${line}\n`) });
  } catch (err) {
    result = {
      name: scenario.key,
      expectation: 'scenario completes',
      sent: 0,
      failed: 0,
      lostRegistrations: undefined,
      passed: false,
      notes: [`error: ${err instanceof Error ? err.message : String(err)}`],
    };
  }
  results.push(result);
  const lost = result.lostRegistrations === undefined ? '-' : String(result.lostRegistrations);
  process.stdout.write(
    `${scenario.key}: ${result.passed ? 'PASS' : 'FAIL'}  sent ${result.sent}  failed ${result.failed}  lost registrations ${lost}  ` +
      `(${((Date.now() - started) / 1000).toFixed(1)} s)\n    ${result.notes.join('\n    ')}\n`,
  );
}

const lines = [
  `# Chaos run${quick ? ' (--quick)' : ''}`,
  '',
  `${new Date().toISOString()} · node ${process.version} · ${os.cpus().length} CPUs · ${os.platform()} ${os.release()}`,
  '',
  '| scenario | expectation | requests sent | failed | lost registrations | result | measured |',
  '| --- | --- | ---: | ---: | ---: | --- | --- |',
  ...results.map(
    (r) =>
      `| ${r.name} | ${r.expectation} | ${r.sent} | ${r.failed} | ${r.lostRegistrations ?? '-'} | ${r.passed ? 'pass' : '**FAIL**'} | ${r.notes.join('; ').replaceAll('|', '\\|')} |`,
  ),
  '',
];
const dir = path.join(ROOT, 'bench', 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(path.join(dir, 'chaos.md'), lines.join('\n'));
process.stdout.write(`\n${lines.join('\n')}\nwritten to bench/results/chaos.md\n`);
process.exitCode = results.every((r) => r.passed) ? 0 : 1;
