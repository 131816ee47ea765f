#!/usr/bin/env node
/**
 * `waypost` entry point. V8's optimizing compiler is held back while the module graph loads and
 * the command starts (src/startup-jit.ts: idle memory), then the command line runs
 * (src/commands/main.ts). Everything else is imported dynamically, after the hold is in place.
 */
import { holdOptimizingCompiler } from './startup-jit.js';

/** Later than any start-up: a command that runs for long (`register`) gets the compiler back too. */
const HOLD_LIMIT_MS = 5000;

const release = holdOptimizingCompiler();
setTimeout(release, HOLD_LIMIT_MS).unref();
const { main } = await import('./commands/main.js');
// main() resolves once the command's action has (for `proxy`: once it listens).
await main(process.argv).finally(release);
