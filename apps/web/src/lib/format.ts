/** 1234567 bytes/s -> "9.9 Mbit/s": throughput the way network people read it. */
export function bitsPerSecond(bytesPerSecond: number): string {
  const bits = bytesPerSecond * 8;
  const units = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'];
  let v = bits;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function count(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(n % 1 ? 1 : 0);
}

export function ago(date: Date | string | null | undefined): string {
  if (!date) return 'never';
  const s = Math.round((Date.now() - new Date(date).getTime()) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/**
 * An offline node's two times, each named: what the panel shows of it is from its last status report, and its agent
 * may have been heard from (pings) after that, until it went offline.
 */
export function reportTimes(n: { statusAt: Date | string | null; lastSeenAt: Date | string | null }): string {
  return `${n.statusAt ? `last status report ${ago(n.statusAt)}` : 'no status report'}, last seen ${ago(n.lastSeenAt)}`;
}
