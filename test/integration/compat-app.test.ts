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

describe('compat registrations and the proxy itself', () => {
  it("refuse an instance at one of the proxy's own listeners (403), as the native API does", async () => {
    const consul = await fetch(`${on.adminUrl}/v1/agent/service/register`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ Name: 'loop', Address: '127.0.0.1', Port: on.port }),
    });
    expect(consul.status).toBe(403);
    expect(await consul.text()).toContain("is this proxy's own listener");

    const eureka = await fetch(`${on.adminUrl}/eureka/apps/LOOP`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        instance: {
          app: 'LOOP',
          hostName: 'loop',
          ipAddr: '127.0.0.1',
          port: { $: on.port, '@enabled': 'true' },
          dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
        },
      }),
    });
    expect(eureka.status).toBe(403);
    expect(on.app.mirror.service('loop')?.instances ?? []).toEqual([]);
  });
});

