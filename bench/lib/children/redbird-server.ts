/**
 * Child process: redbird 1.0.2 exactly as BENCH.md configures it. Self-contained (plain JavaScript
 * at run time, no relative imports). Redbird takes a port, not port 0, so the parent picks a free one.
 */
import { Redbird } from 'redbird';

const config = JSON.parse(process.env.BENCH_CHILD_CONFIG ?? '{}') as { port: number; backends: number[] };
const proxy = new Redbird({ port: config.port, host: '127.0.0.1', keepAlive: true });
for (const backend of config.backends) proxy.register('127.0.0.1', `http://127.0.0.1:${backend}`);
process.stdout.write(`${JSON.stringify({ ready: true, port: config.port })}\n`);
process.on('SIGTERM', () => process.exit(0));
