// The node credential: obtained once by enrollment, kept on the host in a 0600
// file, replaced when the panel rotates it.
import { EnrollResponse, type EnrollRequest } from '@tula/protocol';
import { z } from 'zod';
import type { StateDir } from '../state-dir.ts';

export const CREDENTIAL_FILE = 'credential.json';

export const Credential = z.object({ server: z.string().url(), nodeId: z.string().min(1), credential: z.string().min(16) });
export type Credential = z.infer<typeof Credential>;

export function loadCredential(dir: StateDir, log: (m: string) => void): Credential | undefined {
  return dir.read(CREDENTIAL_FILE, Credential, log);
}

export function saveCredential(dir: StateDir, c: Credential) {
  dir.write(CREDENTIAL_FILE, c, 0o600);
}

export class EnrollError extends Error {
  override name = 'EnrollError';
}

/** Exchanges an enrollment token for this node's credential. */
export async function enroll(server: string, request: z.infer<typeof EnrollRequest>): Promise<Credential> {
  const url = new URL('/api/agent/enroll', server);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    throw new EnrollError(`cannot reach the panel at ${url.origin}: ${(err as Error).message}`);
  }
  const body = (await res.json().catch(() => ({}))) as { error?: string; problems?: string[] };
  if (!res.ok)
    throw new EnrollError(
      `enrollment refused (HTTP ${res.status}): ${body.error ?? 'no reason given'}${body.problems ? ` (${body.problems.join('; ')})` : ''}`,
    );
  const parsed = EnrollResponse.safeParse(body);
  if (!parsed.success) throw new EnrollError('the panel answered the enrollment with something unexpected');
  return { server, nodeId: parsed.data.nodeId, credential: parsed.data.credential };
}
