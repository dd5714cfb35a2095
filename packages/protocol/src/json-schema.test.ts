import { readFileSync, writeFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { parseDesiredState } from './desired-state.ts';
import { desiredStateJsonSchema } from './json-schema.ts';

const file = new URL('../../../docs/desired-state.schema.json', import.meta.url);

it('docs/desired-state.schema.json matches the zod schema (UPDATE_SCHEMA=1 rewrites it)', () => {
  const text = `${JSON.stringify(desiredStateJsonSchema(), null, 2)}\n`;
  if (process.env.UPDATE_SCHEMA) writeFileSync(file, text);
  expect(readFileSync(file, 'utf8')).toBe(text);
});

describe('the published schema, checked by a JSON Schema validator (ajv)', () => {
  const ajv = new Ajv2020({ allErrors: true });
  addFormats.default(ajv);
  // Not a standard format: zod writes it for MAC addresses.
  ajv.addFormat('mac', /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i);
  const validate = ajv.compile(JSON.parse(readFileSync(file, 'utf8')) as object);

  const example = {
    apiVersion: 'tula/v1',
    version: 7,
    balancer: {
      services: [
        {
          name: 'web',
          vip: '192.0.2.10',
          port: 443,
          protocol: 'tcp',
          mode: 'l2',
          interface: 'eth0',
          flowTimeoutS: 600,
          healthCheck: { type: 'http', path: '/healthz', expectStatus: 204, intervalMs: 1000, timeoutMs: 500 },
          backends: [
            { address: '10.0.0.11', mac: '02:00:00:00:00:11' },
            { address: '10.0.0.12', weight: 2, state: 'draining' },
          ],
        },
        {
          name: 'dns6',
          vip: '2001:db8::53',
          ports: '5300-5400',
          protocol: 'udp',
          mode: 'l3',
          tunnel: 'vxlan',
          healthCheck: { type: 'udp', payload: 'ping', expect: 'pong' },
          backends: [{ address: '10.0.1.1' }],
        },
        { name: 'legacy', vip: '192.0.2.20', port: 80, protocol: 'tcp', mode: 'nat', backends: [{ address: '10.0.2.1', port: 8080 }] },
      ],
    },
    backend: {
      vips: [
        { vip: '192.0.2.10', mode: 'l2' },
        { vip: '2001:db8::53', mode: 'l3', tunnel: 'gre', mss: 1400 },
      ],
    },
  };

  it('accepts a document using every section, as the agent does', () => {
    expect(parseDesiredState(example).ok).toBe(true);
    expect(validate(example), ajv.errorsText(validate.errors)).toBe(true);
  });

  // Each: a field of the example given a wrong value, which both the schema and the agent must report there.
  const wrong: [string, (string | number)[], unknown, 'on its object'?][] = [
    ['an unknown service field', ['balancer', 'services', 0, 'colour'], 'red', 'on its object'],
    ['a port above 65535', ['balancer', 'services', 0, 'port'], 70_000],
    ['an unknown protocol', ['balancer', 'services', 0, 'protocol'], 'sctp'],
    ['a VIP that is no address', ['balancer', 'services', 2, 'vip'], 'example.com'],
    ['a zero weight', ['balancer', 'services', 0, 'backends', 1, 'weight'], 0],
    ['a malformed MAC', ['balancer', 'services', 0, 'backends', 0, 'mac'], '02:00:00:00:00'],
    ['an unknown health check type', ['balancer', 'services', 0, 'healthCheck', 'type'], 'icmp', 'on its object'],
    ['an interface name too long for Linux', ['balancer', 'services', 0, 'interface'], 'a-very-long-interface'],
    ['an MSS below the minimum', ['backend', 'vips', 1, 'mss'], 10],
    ['another API version', ['apiVersion'], 'tula/v2'],
  ];
  for (const [what, path, value, where] of wrong) {
    const at = `/${(where ? path.slice(0, -1) : path).join('/')}`;
    it(`rejects ${what} at ${at}`, () => {
      const doc = structuredClone(example) as Record<string | number, unknown>;
      let parent = doc;
      for (const seg of path.slice(0, -1)) parent = parent[seg] as Record<string | number, unknown>;
      parent[path.at(-1)!] = value;
      expect(parseDesiredState(doc).ok).toBe(false);
      expect(validate(doc)).toBe(false);
      expect(validate.errors!.map((e) => e.instancePath)).toContain(at);
    });
  }
});
