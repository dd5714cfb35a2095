import { createHmac } from 'node:crypto';
import { expect, it } from 'vitest';
import { secretBox, webhookSignature } from './secrets.ts';

it('seals a secret so that only the same auth secret and purpose open it, and any change is detected', () => {
  const box = secretBox('a'.repeat(40), 'sso client secret');
  const sealed = box.seal('the client secret');
  expect(sealed).toMatch(/^v1\./);
  expect(sealed).not.toContain('the client secret');
  expect(box.seal('the client secret')).not.toBe(sealed); // a fresh IV each time
  expect(box.open(sealed)).toBe('the client secret');
  expect(() => secretBox('b'.repeat(40), 'sso client secret').open(sealed)).toThrow();
  expect(() => secretBox('a'.repeat(40), 'another purpose').open(sealed)).toThrow();
  const [v, iv, tag, body] = sealed.split('.');
  const flipped = body!.startsWith('A') ? `B${body!.slice(1)}` : `A${body!.slice(1)}`;
  expect(() => box.open([v, iv, tag, flipped].join('.'))).toThrow();
});

it('signs timestamp and body as a webhook receiver recomputes them', () => {
  const expected = createHmac('sha256', 's3cret').update('1700000000.{"a":1}').digest('hex');
  expect(webhookSignature('s3cret', '1700000000', '{"a":1}')).toBe(`sha256=${expected}`);
});
