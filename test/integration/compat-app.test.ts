import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helpers/app.js';

let on: TestApp;
let off: TestApp;
beforeAll(async () => {
  [on, off] = await Promise.all([startApp({ compat: { eureka: true, consul: true } }), startApp()]);
});
afterAll(async () => {
  await Promise.all([on?.stop(), off?.stop()]);
});

describe('compat switches in the config', () => {
  it('serve the Eureka and Consul APIs on the admin port when on, and 404 when off', async () => {
    await on.register({ service: 'orders', id: 'orders-1', host: '127.0.0.1', port: 3000 });
    const consul = await fetch(`${on.adminUrl}/v1/catalog/service/orders`);
    expect(consul.status).toBe(200);
    expect(((await consul.json()) as { ServiceID: string }[]).map((s) => s.ServiceID)).toEqual(['orders-1']);
    const eureka = await fetch(`${on.adminUrl}/eureka/apps/ORDERS`, { headers: { accept: 'application/json' } });
    expect(eureka.status).toBe(200);

    expect((await fetch(`${off.adminUrl}/v1/catalog/service/orders`)).status).toBe(404);
    expect((await fetch(`${off.adminUrl}/eureka/apps`)).status).toBe(404);
  });
});
