// What the panel shows of a node's announcement settings and state: passwords
// never leave the server (a peer says only whether it has one), and a drain
// reads as done once the agent reports every VIP withdrawn and no traffic.
import { mapPeerPasswords, SEALED_PASSWORD_STANDIN } from '@tula/control';
import { AnnounceReport, Announcement } from '@tula/protocol';

export type DrainStatus = 'active' | 'draining' | 'drained' | 'drained (timeout)';

/** The settings with each peer's password replaced by `hasPassword`. */
export function redactAnnounce(stored: unknown) {
  // Passwords are stored sealed (longer than the schema allows a key): only whether there is one matters here.
  const parsed = Announcement.safeParse(mapPeerPasswords(stored, () => SEALED_PASSWORD_STANDIN));
  if (!parsed.success) return null;
  const a = parsed.data;
  return {
    ...(a.vrrp && { vrrp: a.vrrp }),
    ...(a.bgp && { bgp: { ...a.bgp, peers: a.bgp.peers.map(({ password, ...p }) => ({ ...p, hasPassword: password !== undefined })) } }),
  };
}

/** A desired-state document as stored, without the BGP passwords it carries. */
export function redactDocument(doc: unknown): unknown {
  const d = doc as { balancer?: { announce?: unknown } } | null;
  if (!d?.balancer?.announce) return doc;
  return { ...d, balancer: { ...d.balancer, announce: redactAnnounce(d.balancer.announce) } };
}

/** The agent's last announcement report, or null if it sent none (an older agent, or no settings). */
export function announceState(stored: unknown): AnnounceReport | null {
  const parsed = AnnounceReport.safeParse(stored);
  return parsed.success ? parsed.data : null;
}

/**
 * Where a drain stands. Drained: the agent applied the draining document, then
 * reported every VIP withdrawn and no packet for 5 s; or the timeout passed.
 */
export function drainStatus(
  n: {
    drainingSince: Date | null;
    drainTimeoutS: number;
    desiredHash: string | null;
    appliedHash: string | null;
    statusAt: Date | null;
    announceState: unknown;
  },
  now: Date,
): DrainStatus {
  if (!n.drainingSince) return 'active';
  const report = announceState(n.announceState);
  const reportAfterDrain = n.statusAt !== null && n.statusAt >= n.drainingSince && n.appliedHash === n.desiredHash;
  if (reportAfterDrain && report && report.vips.every((v) => !v.fit) && report.idle === true) return 'drained';
  if (now.getTime() - n.drainingSince.getTime() >= n.drainTimeoutS * 1000) return 'drained (timeout)';
  return 'draining';
}
