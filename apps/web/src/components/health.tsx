// Current health as words and a symbol beside the colour, so it reads without colour too.
import type { ReactNode } from 'react';
import type { AppRouter } from '@tula/api';
import type { inferRouterOutputs } from '@trpc/server';
import { Badge } from './ui';

type Service = inferRouterOutputs<AppRouter>['services']['list'][number];
type ServiceHealth = Service['health'];
type BackendHealth = Service['backends'][number]['health'];

const SERVICE: Record<ServiceHealth['state'], { tone: 'green' | 'amber' | 'red' | 'slate'; icon: string; text: string }> = {
  healthy: { tone: 'green', icon: '✓', text: 'all healthy' },
  degraded: { tone: 'amber', icon: '!', text: 'degraded' },
  down: { tone: 'red', icon: '✕', text: 'down' },
  unknown: { tone: 'amber', icon: '?', text: 'health unknown: no balancer reporting' },
  incomplete: { tone: 'slate', icon: '–', text: 'not served' },
  draft: { tone: 'slate', icon: '✎', text: 'draft: no node carries it' },
};

/** A service with no health check is not known to be healthy: no balancer checks its backends. */
const UNCHECKED = { tone: 'slate', icon: '–', text: 'not checked: no health check' } as const;

/** "degraded · 1 of 2 backends failing": the service's roll-up in one badge. */
export function ServiceHealthBadge({ health }: { health: ServiceHealth }) {
  const s = health.state === 'healthy' && health.unchecked ? UNCHECKED : SERVICE[health.state];
  const detail = [
    health.failing > 0 && `${health.failing} of ${health.serving} backends failing`,
    health.warnings.length > 0 && `${health.warnings.length} warning${health.warnings.length === 1 ? '' : 's'}`,
    // Some balancers vouch for it, not all (with none, the state itself says "health unknown").
    health.reporting > 0 &&
      health.reporting < health.balancers &&
      `${health.balancers - health.reporting} of ${health.balancers} balancers not reporting`,
  ].filter(Boolean);
  return (
    <span data-testid="service-health" data-state={health.state}>
      <Badge tone={s.tone}>
        <span aria-hidden="true" className="mr-1">
          {s.icon}
        </span>
        {s.text}
        {detail.length > 0 && ` · ${detail.join(' · ')}`}
      </Badge>
    </span>
  );
}

function time(d: Date | string | null): string {
  return d ? new Date(d).toLocaleTimeString() : '';
}

/** Each balancer's view of one backend: "✕ failing since 22:31:05: connection refused (lb-1)". */
export function BackendHealthList({ health }: { health: BackendHealth }) {
  if (health.state === 'disabled')
    return (
      <Line icon="–" tone="text-slate-600">
        disabled: no checks counted
      </Line>
    );
  if (health.checks.length === 0)
    return (
      <Line icon="–" tone="text-slate-600">
        no balancer checks it
      </Line>
    );
  return (
    <ul className="flex flex-col gap-0.5" data-testid="backend-health" data-state={health.state}>
      {health.checks.map((c) => (
        <li key={c.nodeId}>
          {c.state === 'failing' ? (
            <Line icon="✕" tone="text-red-800">
              failing{c.error ? `: ${c.error}` : ''}{' '}
              <span className="text-slate-600">
                since {time(c.since)} · {c.node}
              </span>
            </Line>
          ) : c.state === 'healthy' ? (
            <Line icon="✓" tone="text-emerald-800">
              healthy <span className="text-slate-600">· {c.node}</span>
            </Line>
          ) : c.state === 'unchecked' ? (
            <Line icon="–" tone="text-slate-600">
              not checked (no health check) · {c.node}
            </Line>
          ) : c.notApplied ? (
            <Line icon="?" tone="text-slate-600">
              waiting: {c.node} has not applied this version yet (a version it refused shows on its node page)
            </Line>
          ) : c.lastKnown ? (
            <Line icon="?" tone="text-slate-600">
              stale: last known {c.lastKnown.state === 'unchecked' ? 'not checked' : c.lastKnown.state} at {time(c.lastKnown.at)}, {c.node}{' '}
              {c.lastKnown.online ? 'not reporting' : 'offline'}
            </Line>
          ) : (
            <Line icon="?" tone="text-slate-600">
              unknown: {c.node} offline or not reporting
            </Line>
          )}
        </li>
      ))}
    </ul>
  );
}

function Line({ icon, tone, children }: { icon: string; tone: string; children: ReactNode }) {
  return (
    <span className={`text-xs ${tone}`}>
      <span aria-hidden="true" className="mr-1 font-bold">
        {icon}
      </span>
      {children}
    </span>
  );
}

/** Warnings of the agents, with the node each came from; `stale`: from the last report of a node offline now, so they count for nothing. */
export function WarningList({
  warnings,
  stale = false,
}: {
  warnings: { key: string; node?: string; message: string; from?: string }[];
  stale?: boolean;
}) {
  if (warnings.length === 0) return null;
  return (
    <ul
      className={`flex flex-col gap-1 text-sm ${stale ? 'text-slate-600' : 'text-amber-900'}`}
      data-testid={stale ? 'stale-warnings' : 'warnings'}
    >
      {warnings.map((w) => (
        <li key={w.key} className="break-words">
          <span aria-hidden="true" className="mr-1 font-bold">
            {stale ? '?' : '!'}
          </span>
          {w.node && <strong>{w.node}: </strong>}
          {w.message}
          {w.from && <span className="text-xs text-slate-500"> ({w.from})</span>}
        </li>
      ))}
    </ul>
  );
}

/**
 * How far the latest change reached; "applied" only when every node runs it and no agent warns about the service.
 * An offline node is not counted as applied: what it runs is known only from its last status report.
 */
export function RolloutBadge({ service: s, long = false }: { service: Pick<Service, 'rollout' | 'health'>; long?: boolean }) {
  const { nodes, applied, offline, errors } = s.rollout;
  const warnings = s.health.warnings.length;
  const [tone, text] =
    nodes === 0
      ? (['slate', 'no node carries it'] as const)
      : errors.length > 0
        ? (['red', `${errors.length} node${errors.length === 1 ? '' : 's'} failed to apply`] as const)
        : offline > 0
          ? ([
              'amber',
              long ? `${offline} node${offline === 1 ? '' : 's'} offline` : `${applied}/${nodes} nodes applied, ${offline} offline`,
            ] as const)
          : applied < nodes
            ? (['amber', long ? 'rolling out' : `${applied}/${nodes} nodes applied`] as const)
            : warnings > 0
              ? (['amber', `applied with ${warnings} warning${warnings === 1 ? '' : 's'}`] as const)
              : (['green', long ? 'applied' : `${applied}/${nodes} nodes applied`] as const);
  return (
    <span data-testid="rollout-badge" data-tone={tone}>
      <Badge tone={tone}>{text}</Badge>
    </span>
  );
}
