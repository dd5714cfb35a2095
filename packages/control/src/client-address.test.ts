// The client address as every limit counts it (pure: no sockets here; the
// panel's behaviour over real sockets is test/access-limits.test.ts).
import { describe, expect, it } from 'vitest';
import { clientAddress, limitKey, TrustedProxies } from './client-address.ts';

const proxies = new TrustedProxies('10.0.0.0/8, 192.0.2.1 2001:db8::/32');

describe('clientAddress', () => {
  it('is the peer when the peer is not a trusted proxy, whatever the headers say', () => {
    expect(clientAddress('203.0.113.5', { 'x-forwarded-for': '198.51.100.1', forwarded: 'for=198.51.100.2' }, proxies)).toBe('203.0.113.5');
    expect(clientAddress('::ffff:203.0.113.5', {}, proxies)).toBe('203.0.113.5');
    expect(clientAddress(undefined, {}, proxies)).toBe('unknown');
  });

  it('walks X-Forwarded-For from the nearest hop past trusted proxies only', () => {
    expect(clientAddress('10.1.1.1', { 'x-forwarded-for': '198.51.100.1' }, proxies)).toBe('198.51.100.1');
    // A client-written first entry is not believed: the first untrusted hop from the right is the client.
    expect(clientAddress('10.1.1.1', { 'x-forwarded-for': '1.2.3.4, 198.51.100.1, 10.2.2.2' }, proxies)).toBe('198.51.100.1');
    // Garbage stops the walk at the last hop a trusted proxy vouched for.
    expect(clientAddress('10.1.1.1', { 'x-forwarded-for': 'nonsense, 10.2.2.2' }, proxies)).toBe('10.2.2.2');
    expect(clientAddress('192.0.2.1', {}, proxies)).toBe('192.0.2.1');
  });

  it('reads RFC 7239 Forwarded when there is no X-Forwarded-For', () => {
    expect(clientAddress('10.1.1.1', { forwarded: 'for=198.51.100.7;proto=https' }, proxies)).toBe('198.51.100.7');
    expect(clientAddress('10.1.1.1', { forwarded: 'for="[2001:db9::17]:4711"' }, proxies)).toBe('2001:db9::17');
    expect(clientAddress('10.1.1.1', { forwarded: 'for=198.51.100.7:1234, for=10.3.3.3' }, proxies)).toBe('198.51.100.7');
    expect(clientAddress('10.1.1.1', { forwarded: 'for=unknown' }, proxies)).toBe('10.1.1.1');
  });
});

describe('TrustedProxies', () => {
  it('refuses what is not an address or a CIDR range, naming it', () => {
    for (const bad of ['10.0.0.0/33', 'proxy.example', '10.0.0.0/8/1', '::1/129', '10.0.0.0/x']) {
      expect(() => new TrustedProxies(bad)).toThrow(`"${bad}" is not an IP address or CIDR range`);
    }
    expect(new TrustedProxies('').has('127.0.0.1')).toBe(false);
  });
});

describe('limitKey', () => {
  it('counts IPv6 by /64 and IPv4 as it is', () => {
    expect(limitKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(limitKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(limitKey('203.0.113.5')).toBe('203.0.113.5');
  });
});
