/**
 * One gRPC call through a system before its gRPC row is measured. h2load counts any HTTP 200 as
 * success, but a proxy that fails a call answers 200 with a non-zero `grpc-status` (Waypost's own
 * gRPC answers do exactly that): this probe reads the status and the reply so that a row whose
 * calls fail is skipped rather than reported as fast.
 */
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';

export function probeGrpc(port: number, authority: string | undefined, path: string, bodyFile: string, timeoutMs = 5000): Promise<void> {
  const request = readFileSync(bodyFile);
  return new Promise<void>((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const timer = setTimeout(() => finish(new Error(`no gRPC answer within ${timeoutMs} ms`)), timeoutMs);
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      session.destroy();
      if (error) reject(error);
      else resolve();
    };
    session.on('error', (error) => finish(error));
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      ':authority': authority ?? `127.0.0.1:${port}`,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let status = '';
    stream.on('response', (headers) => {
      // A trailers-only answer carries grpc-status in the headers.
      status = String(headers['grpc-status'] ?? '');
    });
    stream.on('trailers', (trailers) => (status = String(trailers['grpc-status'] ?? status)));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', (error) => finish(error));
    stream.on('end', () => {
      const reply = Buffer.concat(chunks);
      if (status !== '0') return finish(new Error(`gRPC call answered grpc-status ${status || '(none)'}`));
      if (!reply.equals(request)) return finish(new Error(`gRPC reply is not the echoed request (${reply.length} bytes)`));
      finish();
    });
    stream.end(request);
  });
}
