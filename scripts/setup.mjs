#!/usr/bin/env node
// Makes `npm start` and `npm test` work on a fresh machine: installs npm
// dependencies when missing or stale, builds dist/ (`build`: only when a source
// changed since the last build; `test`: always), and for tests installs the system
// packages the suites run for real, or says what is missing.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.argv[2] ?? 'build';
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const mtime = (file) => (existsSync(file) ? statSync(file).mtimeMs : 0);

// 1. npm dependencies: installed when node_modules is missing or was installed from another
// package-lock.json. Judged by content, not mtime: a fresh checkout (a git worktree sharing a
// node_modules) has a newer lock file with the same packages, and `npm ci` there would wipe it.
const lock = path.join(root, 'package-lock.json');
const installed = path.join(root, 'node_modules', '.package-lock.json');
if (!existsSync(installed) || (mtime(installed) < mtime(lock) && !samePackages(lock, installed))) {
  console.error('[setup] installing npm dependencies (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

/** npm's hidden lock file lists what is installed: the same entries and versions as the lock's (the root entry aside). */
function samePackages(lockFile, installedFile) {
  try {
    const wanted = JSON.parse(readFileSync(lockFile, 'utf8')).packages ?? {};
    const have = JSON.parse(readFileSync(installedFile, 'utf8')).packages ?? {};
    // Optional packages for other platforms (esbuild's, rollup's) are in the lock but never installed.
    const required = Object.keys(wanted).filter((name) => name !== '' && !wanted[name].optional);
    return (
      required.every((name) => have[name]?.version === wanted[name].version) &&
      Object.keys(have).every((name) => have[name].version === wanted[name]?.version)
    );
  } catch {
    return false;
  }
}

// 2. System packages the tests use for real.
if (mode === 'test') {
  // [command that proves it is there, Debian package]
  const wanted = [
    ['redis-server', 'redis-server'],
    ['podman', 'podman'], // registrar tests: a real Docker-API engine
    ['runc', 'runc'], // podman's runtime on hosts with hybrid cgroups
    ['busybox', 'busybox-static'], // the registrar tests' container image
    ['chromium', 'chromium'], // the dashboard test drives a real headless browser
    ['promtool', 'prometheus'], // alert-rule unit tests (promtool test rules)
    ['prometheus', 'prometheus'], // the dashboard and alert queries run against a real Prometheus
  ];
  const missing = [...new Set(wanted.filter(([cmd]) => !has(cmd)).map(([, pkg]) => pkg))];
  if (missing.length > 0) {
    const root = typeof process.getuid === 'function' && process.getuid() === 0;
    if (!root || !has('apt-get')) {
      console.error(`[setup] the tests need: ${missing.join(' ')} (install with: sudo apt-get install -y ${missing.join(' ')})`);
      process.exit(1);
    }
    console.error(`[setup] installing ${missing.join(' ')} with apt-get`);
    run('apt-get', ['update', '-q']);
    run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing]);
  }
}

// 3. Build dist/ (the CLI that end-to-end tests spawn). A full tsc takes 15-30 s on a busy
// machine, so `npm start` skips it while nothing it compiles has changed since the stamp.
const stamp = path.join(root, 'dist', '.build-stamp');
const inputs = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'].map((file) => path.join(root, file));
if (mode === 'test' || !existsSync(path.join(root, 'dist', 'cli.js')) || newest(path.join(root, 'src'), inputs) > mtime(stamp)) {
  run(path.join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json']);
  // package.json's bin: `npx waypost` runs dist/cli.js itself, so it must be executable (tsc writes 0644).
  chmodSync(path.join(root, 'dist', 'cli.js'), 0o755);
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
} else {
  console.error('[setup] dist/ is up to date with src/ (delete dist/ to force a build)');
}

/** Newest mtime of a tree, directories included (their mtime moves when a file is added, removed or renamed). */
function newest(dir, extra) {
  let latest = Math.max(mtime(dir), ...extra.map(mtime));
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(full, []) : mtime(full));
  }
  return latest;
}
