// A real HTTP receiver for alert webhooks: records every POST, checks its
// X-Tula-Signature against the secret it is given, and answers what `answer`
// says (200 unless told otherwise), as a receiver in production would.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  delivery: string;
  timestamp: string;
  signature: string;
  /** The signature recomputed from the secret, timestamp and raw body matched. */
  verified: boolean;
  body: { type: string; kind: string; state: string; title: string; data: Record<string, unknown>; [k: string]: unknown };
  raw: string;
  status: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** The signing secret, once the webhook exists (requests before it cannot verify). */
  secret: string;
  close(): Promise<void>;
}

/** Verifies as docs/alerts.md tells receivers to: HMAC-SHA256 of "<timestamp>.<raw body>", compared in constant time. */
export function verifySignature(secret: string, timestamp: string, raw: string, header: string): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${timestamp}.${raw}`).digest('hex')}`);
  const got = Buffer.from(header);
  return expected.length === got.length && timingSafeEqual(expected, got);
}

export async function startReceiver(answer: (r: Omit<Received, 'status'>, attempt: number) => number = () => 200): Promise<Receiver> {
  const received: Received[] = [];
  const receiver: Receiver = { url: '', received, secret: '', close: async () => undefined };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const header = (name: string) => String(req.headers[name] ?? '');
      const r = {
        delivery: header('x-tula-delivery'),
        timestamp: header('x-tula-timestamp'),
        signature: header('x-tula-signature'),
        verified: verifySignature(receiver.secret, header('x-tula-timestamp'), raw, header('x-tula-signature')),
        body: JSON.parse(raw) as Received['body'],
        raw,
      };
      const status = answer(r, received.filter((x) => x.delivery === r.delivery).length + 1);
      received.push({ ...r, status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'failing on purpose');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  receiver.close = () => new Promise((resolve) => server.close(() => resolve()));
  return receiver;
}
