import { describe, expect, it } from 'vitest';
import { isLoopbackHost, isLoopbackUrl } from './ip.ts';

describe('isLoopbackUrl', () => {
  it('names this host only for localhost, 127.0.0.0/8, ::1 and the unspecified address', () => {
    const loopback = [
      'http://localhost:3000',
      'http://127.0.0.1',
      'http://127.8.9.10:80/x',
      'http://[::1]:3000',
      'http://0.0.0.0:3000',
      'http://LOCALHOST',
    ];
    const elsewhere = [
      'https://panel.example',
      'http://127.example.com',
      'http://10.0.0.1',
      'http://[2001:db8::1]',
      'http://app.localhost',
      'not a url',
    ];
    expect(loopback.filter((u) => !isLoopbackUrl(u))).toEqual([]);
    expect(elsewhere.filter((u) => isLoopbackUrl(u))).toEqual([]);
  });

  it('takes host names with or without IPv6 brackets', () => {
    expect([isLoopbackHost('[::1]'), isLoopbackHost('::1'), isLoopbackHost('127.0.0.1'), isLoopbackHost('panel')]).toEqual([
      true,
      true,
      true,
      false,
    ]);
  });
});
