/**
 * A backend that answers after 10 s and one that accepts connections and never
 * answers, behind routes with a 1 s header timeout, under load. Expectations:
 * every request gets the proxy's 504 (anything else counts as failed), the admin
 * /healthz stays fast meanwhile (event loop responsive), resident memory flat.
 *
 * "Fast" is judged on the median, with a bound on the slowest probe: the ~50 probes
 * of --quick make p99 their maximum, i.e. one scheduling hiccup of a busy machine
 * (270-300 ms seen with every core taken elsewhere, median 4-6 ms). A loop blocked by
 * the pending requests would raise the median; an admin API waiting on a backend would
 * show a probe as slow as the header timeout.
 */
import http from 'node:http';
import net from 'node:net';
import { startLoad } from '../../test/helpers/load.js';
import { adminCall, percentile, register, rssBytes, sleep, startProxy, type ChaosOptions, type ScenarioResult } from './lib.js';

const SLOW_MS = 10_000;
const HEADER_TIMEOUT = '1s';
/** A responsive loop answers /healthz in a few ms, even on a busy machine. */
const ADMIN_MEDIAN_MS = 50;
/** Twice the header timeout: no probe waited for a backend (with room for scheduling noise). */
const ADMIN_MAX_MS = 2_000;

export async function slowBackend(options: ChaosOptions): Promise<ScenarioResult> {
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const slow = http.createServer((req, res) => {
    req.resume();
    const timer = setTimeout(() => res.end('late'), SLOW_MS);
    res.once('close', () => clearTimeout(timer));
  });
  slow.on('connection', track);
  // Accepts, reads nothing, answers nothing.
  const silent = net.createServer((socket) => {
    track(socket);
    socket.pause();
  });
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const proxy = await startProxy({
    config: {
      retries: 0,
      routes: [
        { host: 'slow.localhost', service: 'slow', timeouts: { header: HEADER_TIMEOUT } },
        { host: 'silent.localhost', service: 'silent', timeouts: { header: HEADER_TIMEOUT } },
      ],
    },
  });
  try {
    const admin = proxy.admin.port;
    await register(admin, 'slow', { id: 'slow-0', host: '127.0.0.1', port: (slow.address() as net.AddressInfo).port });
    await register(admin, 'silent', { id: 'silent-0', host: '127.0.0.1', port: (silent.address() as net.AddressInfo).port });

    const durationMs = options.quick ? 6_000 : 20_000;
    const loads = ['slow', 'silent'].map((service) =>
      startLoad({ port: proxy.http[0]!.port, host: `${service}.localhost`, concurrency: 32, durationMs }),
    );
    await sleep(1500);
    const rssStart = rssBytes(proxy.pid);
    const latencies: number[] = [];
    const deadline = Date.now() + durationMs - 2500;
    while (Date.now() < deadline) {
      const t0 = performance.now();
      await adminCall(admin, 'GET', '/healthz');
      latencies.push(performance.now() - t0);
      await sleep(50);
    }
    const rssEnd = rssBytes(proxy.pid);
    const reports = await Promise.all(loads.map((load) => load.done));
    const sent = reports.reduce((n, r) => n + r.sent, 0);
    // A 504 from the proxy is the expected answer here.
    const failed = reports.reduce((n, r) => n + r.sent - (r.codes[504] ?? 0), 0);
    const median = percentile(latencies, 50);
    const max = Math.max(...latencies);
    const growthMb = (rssEnd - rssStart) / 1024 / 1024;
    return {
      name: 'slow (10 s) and silent backends, 1 s header timeout',
      expectation: 'every request 504; /healthz fast; memory flat',
      sent,
      failed,
      lostRegistrations: undefined,
      passed: failed === 0 && median < ADMIN_MEDIAN_MS && max < ADMIN_MAX_MS && growthMb < 64,
      notes: [
        `admin /healthz latency p50 ${median.toFixed(1)} ms (bound ${ADMIN_MEDIAN_MS}), p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${max.toFixed(1)} ms (bound ${ADMIN_MAX_MS}; ${latencies.length} probes)`,
        `proxy RSS ${(rssStart / 1024 / 1024).toFixed(0)} → ${(rssEnd / 1024 / 1024).toFixed(0)} MB`,
        ...(failed > 0 ? [`answers ${JSON.stringify(reports.map((r) => ({ ...r.codes, ...r.errors })))}`] : []),
      ],
    };
  } finally {
    await proxy.stop('SIGKILL');
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => slow.close(resolve));
    await new Promise((resolve) => silent.close(resolve));
  }
}
