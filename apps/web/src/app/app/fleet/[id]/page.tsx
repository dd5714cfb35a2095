'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { use } from 'react';
import { useCanEdit } from '~/components/app-shell';
import { WarningList } from '~/components/health';
import { AgentVersion, UpgradeNote } from '~/components/agent-version';
import { Badge, Button, Card, ErrorNote, Select, Spinner } from '~/components/ui';
import { ConfirmButton } from '~/components/confirm-button';
import { AnnounceSettings, AnnounceState } from '~/components/node-announce';
import { LoadError } from '~/components/load-error';
import { ago, reportTimes } from '~/lib/format';
import { errorMessage, useTRPC } from '~/trpc/client';

export default function NodeDetail({ params }: { params: Promise<{ id: string }> }) {
  const { id } = use(params);
  const trpc = useTRPC();
  const router = useRouter();
  const canEdit = useCanEdit();
  const queryClient = useQueryClient();
  const q = useQuery({ ...trpc.nodes.get.queryOptions({ id }), refetchInterval: 3000 });
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.nodes.pathKey() });
  const rotate = useMutation({ ...trpc.nodes.rotateCredential.mutationOptions(), onSuccess: refresh });
  const revoke = useMutation({ ...trpc.nodes.revoke.mutationOptions(), onSuccess: refresh });
  const remove = useMutation({ ...trpc.nodes.delete.mutationOptions(), onSuccess: () => router.push('/app/fleet') });
  const role = useMutation({ ...trpc.nodes.setRole.mutationOptions(), onSuccess: refresh });
  const upgrade = useMutation({ ...trpc.nodes.upgrade.mutationOptions(), onSuccess: refresh });
  if (!q.data) return q.error ? <LoadError query={q} what="this node" everySeconds={3} /> : <Spinner label="Loading the node…" />;
  const n = q.data;
  const caps = n.capabilities as { tunnels?: string[]; nftVersion?: string | null; kernel?: string; canBalance?: boolean };
  const error = rotate.error ?? revoke.error ?? remove.error ?? role.error ?? upgrade.error;
  const upgrading = n.upgrade !== null && !['done', 'failed'].includes(n.upgrade.state);
  return (
    <div className="flex flex-col gap-5">
      <div>
        <h1 className="text-2xl font-semibold">{n.name}</h1>
        <p className="text-sm text-slate-600">
          {n.revokedAt ? (
            <Badge tone="red">revoked</Badge>
          ) : (
            <Badge tone={n.online ? 'green' : 'slate'}>{n.online ? 'online' : 'offline'}</Badge>
          )}{' '}
          last seen {ago(n.lastSeenAt)} · {n.hostname ?? 'hostname unknown'} · {n.addresses.join(', ') || 'no addresses reported'}
        </p>
      </div>
      <LoadError query={q} what="this node" everySeconds={3} />
      {error && <ErrorNote>{errorMessage(error)}</ErrorNote>}
      {n.warnings.length > 0 && (
        <Card
          title={
            n.warningsStale
              ? `Warnings from the agent, node offline; ${reportTimes(n)} (${n.warnings.length})`
              : `Warnings from the agent (${n.warnings.length})`
          }
        >
          <WarningList stale={n.warningsStale} warnings={n.warnings.map((w, i) => ({ key: String(i), message: w.message }))} />
          <p className="mt-2 text-xs text-slate-500">
            {n.warningsStale
              ? 'The node is offline, so these may no longer hold; they count towards nothing until its agent reports again.'
              : 'The agent applied its state but could not do everything; the rest of its data plane runs.'}
          </p>
        </Card>
      )}
      <div className="grid gap-4 md:grid-cols-2">
        <Card title="State">
          <dl className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1 text-sm">
            <dt className="text-slate-500">Desired version</dt>
            <dd>{n.desiredVersion}</dd>
            <dt className="text-slate-500">Applied version</dt>
            <dd>
              {n.appliedVersion ?? '-'}{' '}
              {!n.inSync ? (
                <Badge tone="amber">drift</Badge>
              ) : n.warnings.length && !n.warningsStale ? (
                <Badge tone="amber">
                  applied with {n.warnings.length} warning{n.warnings.length === 1 ? '' : 's'}
                </Badge>
              ) : (
                <Badge tone="green">in sync</Badge>
              )}
            </dd>
            <dt className="text-slate-500">Last error</dt>
            {/* Red only for an actual error. */}
            <dd data-testid="node-last-error" className={n.lastError ? 'break-words text-red-800' : 'text-slate-600'}>
              {n.lastError ?? 'none'}
            </dd>
            <dt className="text-slate-500">Tables changed outside Tula</dt>
            <dd>
              {n.lastDriftAt ? (
                <span className="break-words text-amber-800">
                  drift repaired {ago(n.lastDriftAt)}: {n.lastDrift.join('; ')}
                </span>
              ) : (
                'never'
              )}
            </dd>
            <dt className="text-slate-500">Agent</dt>
            <dd>
              <AgentVersion node={n} />
            </dd>
            <dt className="text-slate-500">Kernel</dt>
            <dd>
              {caps.kernel ?? '-'} · nft {caps.nftVersion ?? '-'} · tunnels {caps.tunnels?.join(', ') || 'none'}
            </dd>
            <dt className="text-slate-500">Balances</dt>
            <dd>{n.balancerOf.map((b) => b.service.name).join(', ') || 'nothing'}</dd>
          </dl>
        </Card>
        <Card title="Agent version">
          <div className="flex flex-col gap-3 text-sm">
            <p>
              This node runs agent <AgentVersion node={n} />; the panel serves {n.panelVersion}.
            </p>
            <UpgradeNote upgrade={n.upgrade} />
            {canEdit && !n.revokedAt && n.agentOutdated && (
              <div>
                <ConfirmButton
                  variant="secondary"
                  confirmVariant="primary"
                  busy={upgrade.isPending || upgrading}
                  title={`Upgrade the agent on ${n.name} to ${n.panelVersion}?`}
                  description={
                    <>
                      The agent downloads {n.panelVersion} from this panel, checks its SHA-256, replaces its binary (keeping the current one
                      as tula-agent.previous) and restarts. The kernel keeps forwarding with the current rules while it restarts; health
                      checks pause for a few seconds.{n.online ? '' : ' The node is offline: it upgrades when it next connects.'}
                    </>
                  }
                  confirmLabel={`Upgrade ${n.name}`}
                  onConfirm={() => upgrade.mutate({ id })}
                >
                  Upgrade agent
                </ConfirmButton>
              </div>
            )}
          </div>
        </Card>
        <Card title="Role and credential">
          <div className="flex flex-col gap-3 text-sm">
            <label className="flex items-center gap-2">
              Role
              <Select
                disabled={!canEdit || Boolean(n.revokedAt)}
                value={n.role}
                onChange={(e) => role.mutate({ id, role: e.target.value as 'balancer' | 'backend' | 'both' })}
                fit
              >
                <option value="both">balancer and backend</option>
                <option value="balancer">balancer</option>
                <option value="backend">backend</option>
              </Select>
            </label>
            <p className="text-slate-600">Credential last rotated {ago(n.credentialRotatedAt)}.</p>
            {canEdit && !n.revokedAt && (
              <div className="flex flex-wrap gap-2">
                <Button variant="secondary" busy={rotate.isPending} onClick={() => rotate.mutate({ id })}>
                  Rotate credential
                </Button>
                <ConfirmButton
                  busy={revoke.isPending}
                  title={`Revoke ${n.name}?`}
                  description="Its agent is disconnected now and cannot connect again. Its data plane keeps its last state."
                  confirmLabel={`Revoke ${n.name}`}
                  onConfirm={() => revoke.mutate({ id })}
                >
                  Revoke
                </ConfirmButton>
              </div>
            )}
            {canEdit && n.revokedAt && (
              <ConfirmButton
                busy={remove.isPending}
                title={`Delete ${n.name}?`}
                description="The node leaves the fleet and the services that named it; its history of revisions keeps it."
                confirmLabel={`Delete ${n.name}`}
                onConfirm={() => remove.mutate({ id })}
              >
                Delete this node
              </ConfirmButton>
            )}
          </div>
        </Card>
      </div>
      {n.role !== 'backend' && (
        <div className="grid gap-4 md:grid-cols-2">
          <AnnounceState node={n} canEdit={canEdit} />
          <AnnounceSettings node={n} canEdit={canEdit} />
        </div>
      )}
      <Card title="Desired state (v1 document)">
        <pre className="max-h-96 overflow-auto rounded bg-slate-50 p-3 text-xs">{JSON.stringify(n.desiredState, null, 2)}</pre>
      </Card>
    </div>
  );
}
