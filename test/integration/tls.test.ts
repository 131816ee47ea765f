/**
 * TLS termination on an HTTP listener through a whole Waypost (src/app.ts
 * wiring): certificate per host by SNI, the default certificate, X-Forwarded-Proto,
 * WebSockets over TLS, and certificate files replaced on disk without dropping
 * open connections. Certificates are made with openssl at test time.
 */
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startBackend, type Backend, type EchoReply } from '../helpers/backends.js';
import { certDir, makeCert, startStreamApp, startWsBackend, type CertPair, type StreamApp } from './stream-harness.js';

interface Served {
  status: number;
  body: string;
  cn: string;
  san: string;
  reused: boolean;
  localPort: number;
}

function get(port: number, servername: string | undefined, agent: https.Agent | false = false): Promise<Served> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: '/hello',
        ...(servername === undefined ? {} : { servername, headers: { host: servername } }),
        rejectUnauthorized: false,
        agent,
      },
      (res) => {
        const socket = res.socket as TLSSocket;
        const cert = socket.getPeerCertificate();
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            cn: String(cert.subject?.CN),
            san: String(cert.subjectaltname),
            reused: req.reusedSocket,
            localPort: socket.localPort ?? 0,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('TLS termination', () => {
  let certs: ReturnType<typeof certDir>;
  let alpha: CertPair;
  let beta: CertPair;
  let backend: Backend;
  let proxy: StreamApp;

  beforeEach(async () => {
    certs = certDir();
    alpha = certs.make('alpha', 'alpha.example.test', ['alpha.example.test']);
    beta = certs.make('beta', 'beta.example.test', ['*.beta.example.test']);
    backend = await startBackend({ name: 'web' });
    proxy = await startStreamApp({
      listen: [{ address: '127.0.0.1:0', tls: true }] as never,
      tls: {
        certificates: [
          { hosts: ['alpha.example.test'], cert: alpha.certFile, key: alpha.keyFile },
          { hosts: ['*.beta.example.test'], cert: beta.certFile, key: beta.keyFile, default: true },
        ],
      },
      routes: [
        { host: 'alpha.example.test', service: 'web' },
        { host: '*.beta.example.test', service: 'web' },
        { host: '127.0.0.1', service: 'web' },
      ],
    });
    await proxy.register({ service: 'web', id: 'w', host: '127.0.0.1', port: backend.port });
  });

  afterEach(async () => {
    await proxy.stop();
    await backend.close();
    certs.cleanup();
  });

  it('serves each host its own certificate by SNI, and the default one without SNI', async () => {
    const a = await get(proxy.port, 'alpha.example.test');
    expect(a).toMatchObject({ status: 200, cn: 'alpha.example.test', san: 'DNS:alpha.example.test' });
    const b = await get(proxy.port, 'api.beta.example.test');
    expect(b).toMatchObject({ status: 200, cn: 'beta.example.test', san: 'DNS:*.beta.example.test' });
    const unknown = await get(proxy.port, 'other.example.test');
    expect(unknown.cn).toBe('beta.example.test');
    // An IP literal sends no SNI: the default certificate.
    expect((await get(proxy.port, undefined)).cn).toBe('beta.example.test');
  });

  it('tells the backend the client came over https', async () => {
    const served = await get(proxy.port, 'alpha.example.test');
    const reply = JSON.parse(served.body) as EchoReply;
    expect(reply.headers['x-forwarded-proto']).toBe('https');
    expect(reply.headers['x-forwarded-host']).toBe('alpha.example.test');
  });

  it('carries WebSockets over TLS (wss) with X-Forwarded-Proto https', async () => {
    const ws = await startWsBackend('secure');
    try {
      await proxy.register({ service: 'web', id: 'w', host: '127.0.0.1', port: ws.port });
      // ws hands unknown options to https.request; its types do not list servername.
      const options: WebSocket.ClientOptions & { servername: string } = {
        servername: 'alpha.example.test',
        headers: { host: 'alpha.example.test' },
        rejectUnauthorized: false,
      };
      const client = new WebSocket(`wss://127.0.0.1:${proxy.port}/`, options);
      await new Promise((resolve, reject) => {
        client.once('open', resolve);
        client.once('error', reject);
      });
      const answer = await new Promise<string>((resolve) => {
        client.once('message', (data: Buffer) => resolve(data.toString()));
        client.send('proto');
      });
      expect(answer).toBe('https');
      client.terminate();
    } finally {
      await ws.close();
    }
  });

  it('serves a replaced certificate file to new connections while a keep-alive connection keeps working', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const before = await get(proxy.port, 'alpha.example.test', agent);
      expect(before.cn).toBe('alpha.example.test');

      makeCert(certs.dir, 'alpha', 'alpha-v2.example.test', ['alpha.example.test']);
      let fresh = '';
      for (let i = 0; i < 80 && fresh !== 'alpha-v2.example.test'; i++) {
        fresh = (await get(proxy.port, 'alpha.example.test')).cn;
        if (fresh !== 'alpha-v2.example.test') await new Promise((r) => setTimeout(r, 100));
      }
      expect(fresh).toBe('alpha-v2.example.test');

      const after = await get(proxy.port, 'alpha.example.test', agent);
      expect(after).toMatchObject({ status: 200, reused: true, localPort: before.localPort, cn: 'alpha.example.test' });
    } finally {
      agent.destroy();
    }
  });
});
