import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeGrpcHealth, servingStatus } from '../../../src/health/grpc-probe.js';
import { startGrpcBackend, type GrpcBackend } from '../../helpers/grpc.js';
import { deadPort } from '../../helpers/ports.js';

describe('gRPC health probe against a real grpc-js server', () => {
  let backend: GrpcBackend;
  beforeAll(async () => {
    backend = await startGrpcBackend('health-a');
  });
  afterAll(async () => {
    await backend.close();
  });

  const probe = (service = '', port = backend.port, timeoutMs = 1000) => probeGrpcHealth({ host: '127.0.0.1', port, service, timeoutMs }).result;

  it('passes while the server says SERVING', async () => {
    backend.health = 'SERVING';
    expect(await probe()).toBeUndefined();
    expect(await probe('waypost.test.Echo')).toBeUndefined();
  });

  it('fails with the serving status when the server says NOT_SERVING', async () => {
    backend.health = 'NOT_SERVING';
    expect(await probe()).toBe('serving status 2');
    backend.health = 'SERVING';
  });

  it('fails with the connection error when nothing listens', async () => {
    expect(await probe('', await deadPort())).toMatch(/ECONNREFUSED/);
  });
});

describe('servingStatus decoding', () => {
  const framed = (bytes: number[]): Buffer => Buffer.from([0, 0, 0, 0, bytes.length, ...bytes]);
  it.each([
    ['SERVING', framed([0x08, 0x01]), 1],
    ['NOT_SERVING', framed([0x08, 0x02]), 2],
    ['an empty message (the default, UNKNOWN)', framed([]), 0],
    ['a truncated frame', Buffer.from([0, 0, 0, 0, 9, 0x08]), undefined],
    ['a compressed frame', Buffer.from([1, 0, 0, 0, 2, 0x08, 0x01]), undefined],
    ['a length-delimited field instead of a varint', framed([0x0a, 0x01, 0x41]), undefined],
  ])('reads %s', (_name, body, expected) => {
    expect(servingStatus(body)).toBe(expected);
  });
});
