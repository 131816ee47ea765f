/**
 * A real container engine for registrar tests: Podman serving the Docker API on
 * a unix socket, with its storage, runtime state and config under one temp dir
 * (nothing on the host's podman setup is touched). Images are built without a
 * registry: `podman import` of a tar holding the static busybox binary.
 *
 * `PodmanEngine.start()` rejects with a sentence saying why when Podman cannot
 * run here; the caller must report that loudly.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const BUSYBOX_IMAGE = 'localhost/waypost-busybox:test';
const BUSYBOX_PATHS = ['/bin/busybox', '/usr/bin/busybox'];

export class PodmanEngine {
  readonly dir: string;
  readonly socket: string;
  readonly env: NodeJS.ProcessEnv;
  #service: ChildProcess | undefined;

  private constructor(dir: string) {
    this.dir = dir;
    this.socket = path.join(dir, 'api.sock');
    const hasRunc = spawnSync('sh', ['-c', 'command -v runc'], { stdio: 'ignore' }).status === 0;
    // crun refuses cgroup v1/v2 hybrid hosts; runc with cgroupfs works there. No journald in CI: file events.
    writeFileSync(
      path.join(dir, 'containers.conf'),
      [
        '[containers]',
        'default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]',
        '[engine]',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `tmp_dir = "${path.join(dir, 'tmp')}"`,
        ...(hasRunc ? ['runtime = "runc"'] : []),
        '',
      ].join('\n'),
    );
    writeFileSync(
      path.join(dir, 'storage.conf'),
      ['[storage]', 'driver = "vfs"', `graphroot = "${path.join(dir, 'graph')}"`, `runroot = "${path.join(dir, 'run')}"`, ''].join('\n'),
    );
    this.env = {
      ...process.env,
      CONTAINERS_CONF: path.join(dir, 'containers.conf'),
      CONTAINERS_STORAGE_CONF: path.join(dir, 'storage.conf'),
    };
  }

  get dockerHost(): string {
    return `unix://${this.socket}`;
  }

  static async start(): Promise<PodmanEngine> {
    if (spawnSync('sh', ['-c', 'command -v podman'], { stdio: 'ignore' }).status !== 0) {
      throw new Error('podman is not installed (apt-get install -y podman runc busybox-static)');
    }
    const busybox = BUSYBOX_PATHS.find((p) => existsSync(p) && isStatic(p));
    if (!busybox) throw new Error('no static busybox binary (apt-get install -y busybox-static)');
    const engine = new PodmanEngine(mkdtempSync(path.join(os.tmpdir(), 'waypost-podman-')));
    try {
      const rootfs = path.join(engine.dir, 'rootfs');
      mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
      copyFileSync(busybox, path.join(rootfs, 'bin', 'busybox'));
      await engine.run('tar', ['-C', rootfs, '-cf', path.join(engine.dir, 'image.tar'), '.']);
      await engine.podman(['import', path.join(engine.dir, 'image.tar'), BUSYBOX_IMAGE]);
      // Prove a container can really run here before any test relies on it.
      await engine.podman(['run', '--rm', '--network', 'host', BUSYBOX_IMAGE, '/bin/busybox', 'true']);
      await engine.#startService();
      return engine;
    } catch (err) {
      await engine.stop();
      throw err;
    }
  }

  /** Runs `podman ARGS` with this engine's config; resolves with stdout. */
  podman(args: string[]): Promise<string> {
    return this.run('podman', args);
  }

  /** Starts `busybox httpd` on 127.0.0.1:port with host networking; resolves with the container id. */
  async runHttpd(port: number, labels: Record<string, string>): Promise<string> {
    const labelArgs = Object.entries({ 'waypost.test': '1', ...labels }).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
    const out = await this.podman([
      'run', '-d', '--network', 'host', ...labelArgs, BUSYBOX_IMAGE, '/bin/busybox', 'httpd', '-f', '-p', `127.0.0.1:${port}`,
    ]);
    return out.trim();
  }

  /** Removes every container, stops the API service (by PID) and deletes the temp dir. */
  async stop(): Promise<void> {
    await this.podman(['rm', '-f', '-a']).catch(() => '');
    const service = this.#service;
    if (service && service.exitCode === null && service.signalCode === null) {
      await new Promise<void>((resolve) => {
        service.once('exit', () => resolve());
        service.kill('SIGTERM');
      });
    }
    // vfs needs no mounts, but a container's shm mount may survive a crash: unmount what is left under the dir.
    const mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[1] ?? '')
      .filter((mount) => mount.startsWith(this.dir))
      .sort()
      .reverse();
    for (const mount of mounts) spawnSync('umount', ['-l', mount]);
    // A container's cleanup process may still be writing under graph/ for a while on a loaded
    // machine (ENOTEMPTY after 2 s was seen): retried for up to 10 s, then left to the system's
    // temp cleaning with a warning; a temp dir is not what any test here checks.
    try {
      rmSync(this.dir, { recursive: true, force: true, maxRetries: 50, retryDelay: 200 });
    } catch (err) {
      console.warn(`podman test engine: left ${this.dir} behind: ${(err as Error).message}`);
    }
  }

  async #startService(): Promise<void> {
    const child = spawn('podman', ['system', 'service', '--time=0', this.dockerHost], { env: this.env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.#service = child;
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    const deadline = Date.now() + 10_000;
    while (!existsSync(this.socket)) {
      if (child.exitCode !== null) throw new Error(`podman system service exited with ${child.exitCode}: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`podman system service did not create ${this.socket} within 10 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  run(command: string, args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(command, args, { env: this.env, timeout: 60_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${command} ${args.slice(0, 3).join(' ')} failed: ${stderr.trim() || err.message}`));
        else resolve(stdout);
      });
    });
  }
}

function isStatic(file: string): boolean {
  const out = spawnSync('file', ['-L', file], { encoding: 'utf8' });
  // Without `file`, trust the busybox-static package's path.
  return out.status !== 0 || /statically linked|static-pie/.test(out.stdout);
}
