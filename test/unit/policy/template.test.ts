import { describe, expect, it } from 'vitest';
import { Template } from '../../../src/policy/template.js';
import { policyRequest, routeConfigError } from './edits-fixtures.js';

describe('Template', () => {
  it('pre-builds a value without variables', () => {
    const template = new Template('max-age=31536000');
    expect(template.constant).toBe('max-age=31536000');
    expect(template.render(policyRequest())).toBe('max-age=31536000');
  });

  it('renders every header variable from the request', () => {
    const template = new Template('{client_ip}|{request_id}|{service}|{instance}|{host}');
    expect(template.constant).toBeUndefined();
    expect(template.render(policyRequest({ instance: '10.0.0.1:80' }))).toBe('203.0.113.7|req-1|orders|10.0.0.1:80|shop.example.com');
  });

  it('renders the URL parts of the client request target', () => {
    const template = new Template('{scheme}://{host}{path}?{query} {uri}');
    expect(template.render(policyRequest({ url: '/a/b?x=1' }))).toBe('http://shop.example.com/a/b?x=1 /a/b?x=1');
    expect(new Template('{query}').render(policyRequest({ url: '/a' }))).toBe('');
  });

  it('keeps lone braces and text around variables literal', () => {
    expect(new Template('{ {host} }{').render(policyRequest())).toBe('{ shop.example.com }{');
  });

  it('knows which variables it reads', () => {
    expect(new Template('x-{instance}').uses('instance')).toBe(true);
    expect(new Template('x-{host}').uses('instance')).toBe(false);
  });

  it('is refused at config load with an unknown variable, naming the field', () => {
    expect(routeConfigError({ requestHeaders: { set: { 'x-who': '{user}' } } })).toBe(
      'routes.0.requestHeaders.set.x-who: expected variables among {client_ip} {request_id} {service} {instance} {host}, got {user}',
    );
    expect(routeConfigError({ redirect: { to: 'https://{hostname}/' } })).toMatch(/^routes\.0\.redirect\.to: expected variables among .*, got \{hostname\}$/);
  });
});
