#!/usr/bin/env node
// Makes `npm start` and `npm test` work on a fresh machine: installs npm
// dependencies when missing or stale, builds dist/, and (for tests) installs the
// system packages the suites run for real (redis-server), or says what is missing.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.argv[2] ?? 'build';
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const mtime = (file) => (existsSync(file) ? statSync(file).mtimeMs : 0);

// 1. npm dependencies.
const lock = path.join(root, 'package-lock.json');
const installed = path.join(root, 'node_modules', '.package-lock.json');
if (!existsSync(installed) || mtime(installed) < mtime(lock)) {
  console.error('[setup] installing npm dependencies (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
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
  ];
  const missing = wanted.filter(([cmd]) => !has(cmd)).map(([, pkg]) => pkg);
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

// 3. Build dist/ (the CLI that end-to-end tests spawn).
run(path.join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json']);
