// A node's agent version against the panel's, and where an upgrade the panel asked
// for stands (requested, downloading, restarting, done, failed and why).
import { ago } from '~/lib/format';
import { Badge } from './ui';

export interface AgentUpgrade {
  state: 'requested' | 'sent' | 'downloading' | 'restarting' | 'done' | 'failed';
  target: string;
  message: string | null;
  at: string;
}

const UNDER_WAY: Record<AgentUpgrade['state'], string | null> = {
  requested: 'upgrade requested',
  sent: 'upgrade sent',
  downloading: 'downloading',
  restarting: 'restarting',
  done: null,
  failed: null,
};

/** The version with an "outdated" badge, or the upgrade under way, for tables and the node page. */
export function AgentVersion({
  node,
}: {
  node: { agentVersion: string | null; agentOutdated: boolean; panelVersion: string; upgrade: AgentUpgrade | null };
}) {
  const underWay = node.upgrade ? UNDER_WAY[node.upgrade.state] : null;
  return (
    <span className="inline-flex flex-wrap items-center gap-1">
      <span>{node.agentVersion ?? '-'}</span>
      {underWay ? (
        <Badge tone="blue">
          {underWay} ({node.upgrade!.target})
        </Badge>
      ) : node.upgrade?.state === 'failed' && node.agentOutdated ? (
        <Badge tone="red">upgrade failed</Badge>
      ) : node.agentOutdated ? (
        <Badge tone="amber">outdated: panel is {node.panelVersion}</Badge>
      ) : null}
    </span>
  );
}

/** One line on the last upgrade: what failed and what to do, or when it finished. */
export function UpgradeNote({ upgrade }: { upgrade: AgentUpgrade | null }) {
  if (!upgrade) return null;
  if (upgrade.state === 'failed')
    return (
      <p className="text-sm break-words text-red-800" role="status">
        Upgrade to {upgrade.target} failed {ago(upgrade.at)}: {upgrade.message ?? 'no reason given'}. The agent keeps running its version;
        fix the cause and upgrade again.
      </p>
    );
  if (upgrade.state === 'done')
    return (
      <p className="text-sm text-slate-600" role="status">
        Upgraded to {upgrade.target} {ago(upgrade.at)}.
      </p>
    );
  return (
    <p className="text-sm text-slate-600" role="status">
      Upgrading to {upgrade.target}: {UNDER_WAY[upgrade.state]}
      {upgrade.message ? ` (${upgrade.message})` : ''}. The kernel keeps forwarding meanwhile.
    </p>
  );
}
