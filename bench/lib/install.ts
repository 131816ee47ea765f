/**
 * Missing peers are installed once with apt-get when the bench runs as root and installs are
 * allowed; otherwise the systems that need them are skipped with a printed reason.
 */
import { spawnSync } from 'node:child_process';
import { hasCommand } from './pin.js';

const PACKAGES: Record<string, string> = { nginx: 'nginx', haproxy: 'haproxy', caddy: 'caddy', wrk: 'wrk', h2load: 'nghttp2-client', valgrind: 'valgrind' };

/** `commands`: the ones this script needs (bench/run.ts: the peers and wrk; bench/h2.ts: h2load too). */
export function installMissingPeers(allowed: boolean, commands = ['nginx', 'haproxy', 'caddy', 'wrk']): void {
  const missing = commands.filter((command) => !hasCommand(command));
  if (missing.length === 0) return;
  if (!allowed) return console.log(`not installing ${missing.join(', ')} (--no-install)`);
  if (process.getuid?.() !== 0) return console.log(`not installing ${missing.join(', ')}: not running as root`);
  const packages = missing.map((command) => PACKAGES[command]!);
  console.log(`installing ${packages.join(' ')} with apt-get (once)`);
  const result = spawnSync('apt-get', ['install', '-y', ...packages], {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.status !== 0) console.log(`apt-get install failed (${result.status}): ${(result.stderr ?? '').trim().split('\n').slice(-2).join(' ')}`);
}
