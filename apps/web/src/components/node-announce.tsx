'use client';

// A balancer's announcements on the node page: what its agent reports now
// (BGP peers, each VIP announced or withdrawn, VRRP ownership), the drain
// control, and the settings form (BGP peers, VRRP). Passwords are write-only:
// the panel says a peer has one, never what it is.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { AppRouter } from '@tula/api';
import type { inferRouterOutputs } from '@trpc/server';
import { useState } from 'react';
import { ConfirmButton } from '~/components/confirm-button';
import { Badge, Button, Card, ErrorNote, Field, Input } from '~/components/ui';
import { ago, reportTimes } from '~/lib/format';
import { errorMessage, fieldErrors, useTRPC } from '~/trpc/client';

type NodeDetail = inferRouterOutputs<AppRouter>['nodes']['get'];

const DRAIN_TONE = { active: 'green', draining: 'amber', drained: 'blue', 'drained (timeout)': 'blue' } as const;

/**
 * What a balancer without BGP or VRRP does for its VIPs: one alone on an L2 VIP
 * answers ARP for it (correct as is); several on one L2 VIP need VRRP; an L3 VIP needs a route.
 */
export function withoutAnnouncements(r: NodeDetail['vipReach']): string {
  const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
  const parts = [
    r.arp > 0 && `It answers ARP for ${n(r.arp, 'L2 VIP')} it alone balances, so it owns ${r.arp === 1 ? 'it' : 'them'}: no VRRP needed.`,
    r['arp-shared'] > 0 &&
      `${n(r['arp-shared'], 'L2 VIP')} ${r['arp-shared'] === 1 ? 'is' : 'are'} shared with other balancers: set VRRP below so one owns each at a time.`,
    r['route-needed'] > 0 &&
      `${n(r['route-needed'], 'L3 VIP')} need${r['route-needed'] === 1 ? 's' : ''} a route via this node: set BGP below, or add a static route on your router.`,
  ].filter(Boolean);
  return parts.length > 0 ? `No BGP or VRRP. ${parts.join(' ')}` : 'No BGP or VRRP, and it balances no service yet.';
}

/** Live state from the agent's last report, and the drain control. */
export function AnnounceState({ node, canEdit }: { node: NodeDetail; canEdit: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.nodes.pathKey() });
  const drain = useMutation({ ...trpc.nodes.drain.mutationOptions(), onSuccess: refresh });
  const undrain = useMutation({ ...trpc.nodes.undrain.mutationOptions(), onSuccess: refresh });
  const s = node.announceState;
  const draining = node.drain !== 'active';
  return (
    <Card title="Announcements">
      <div className="flex flex-col gap-3 text-sm">
        {(drain.error ?? undrain.error) && <ErrorNote>{errorMessage(drain.error ?? undrain.error)}</ErrorNote>}
        <p>
          Balancer: <Badge tone={DRAIN_TONE[node.drain]}>{node.drain}</Badge>{' '}
          {node.drain === 'draining' && (
            <span className="text-slate-600">
              announcements withdrawn; waiting for its traffic to stop (at most {node.drainTimeoutS} s, since {ago(node.drainingSince)})
            </span>
          )}
        </p>
        {!s ? (
          <p className="text-slate-600">
            {node.announce
              ? 'No report from the agent yet (it is offline, or older than announcements).'
              : withoutAnnouncements(node.vipReach)}
          </p>
        ) : (
          <>
            {!node.online && (
              <p className="text-slate-600" data-testid="announce-stale">
                Node offline; {reportTimes(node)}. Shown from that report: it announces nothing now, whatever it said then.
              </p>
            )}
            {s.bgp && (
              <div>
                <h3 className="font-medium">BGP peers {s.bgp.running ? '' : '(bird is not running)'}</h3>
                <ul className="mt-1 flex flex-col gap-1" aria-label="BGP peers">
                  {s.bgp.peers.map((p) => (
                    <li key={p.address} className="flex flex-wrap items-center gap-2">
                      <span className="font-mono">{p.address}</span>
                      <Badge tone={!node.online ? 'slate' : p.established ? 'green' : 'red'}>
                        {p.established ? 'established' : 'not established'}
                      </Badge>
                      {!p.established && (
                        <span className="text-xs text-slate-600">
                          {p.info || p.state}: check the address, ASN and password on both sides
                        </span>
                      )}
                    </li>
                  ))}
                </ul>
              </div>
            )}
            {s.vrrp && (
              <p>
                VRRP:{' '}
                <Badge tone={s.vrrp.owner ? 'green' : 'slate'}>
                  {s.vrrp.owner ? 'MASTER (owns the VIPs)' : s.vrrp.running ? 'BACKUP' : 'out of the group'}
                </Badge>
              </p>
            )}
            <div>
              <h3 className="font-medium">VIPs</h3>
              <ul className="mt-1 flex flex-col gap-1" aria-label="Announced VIPs">
                {s.vips.length === 0 && <li className="text-slate-600">none of its services is announced by BGP or VRRP</li>}
                {s.vips.map((v) => (
                  <li key={`${v.via}|${v.vip}`} className="flex flex-wrap items-center gap-2">
                    <span className="font-mono">{v.vip}</span> <span className="text-xs text-slate-500">{v.via.toUpperCase()}</span>
                    <Badge tone={!node.online ? 'slate' : v.fit ? 'green' : 'amber'}>
                      {v.fit ? 'announced' : `withdrawn: ${v.reason ?? 'unknown'}`}
                    </Badge>
                  </li>
                ))}
              </ul>
            </div>
            {s.errors.length > 0 && <ErrorNote>{s.errors.join('; ')}</ErrorNote>}
          </>
        )}
        {canEdit && !node.revokedAt && node.role !== 'backend' && (
          <div className="flex flex-wrap gap-2">
            {draining ? (
              <Button variant="secondary" busy={undrain.isPending} onClick={() => undrain.mutate({ id: node.id })}>
                Undrain (announce again)
              </Button>
            ) : (
              <ConfirmButton
                busy={drain.isPending}
                title={`Drain ${node.name}?`}
                description="It withdraws its announcements, so routers send new flows to the other balancers; flows already on it finish. It reads as drained once its traffic stops, or after 5 minutes."
                confirmLabel={`Drain ${node.name}`}
                onConfirm={() => drain.mutate({ id: node.id, timeoutS: 300 })}
              >
                Drain
              </ConfirmButton>
            )}
          </div>
        )}
      </div>
    </Card>
  );
}

interface PeerForm {
  address: string;
  asn: string;
  password: string;
  hasPassword: boolean;
  holdTimeS: string;
  bfd: boolean;
}

const num = (s: string) => (s.trim() === '' ? Number.NaN : Number(s));

/** The settings form; errors come back from the API by field ("announce.bgp.localAsn"). */
export function AnnounceSettings({ node, canEdit }: { node: NodeDetail; canEdit: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const a = node.announce;
  const [bgpOn, setBgpOn] = useState(Boolean(a?.bgp));
  const [localAsn, setLocalAsn] = useState(String(a?.bgp?.localAsn ?? ''));
  const [routerId, setRouterId] = useState(a?.bgp?.routerId ?? node.addresses.find((x) => x.includes('.')) ?? '');
  const [peers, setPeers] = useState<PeerForm[]>(
    a?.bgp?.peers.map((p) => ({
      address: p.address,
      asn: String(p.asn),
      password: '',
      hasPassword: p.hasPassword,
      holdTimeS: String(p.holdTimeS),
      bfd: p.bfd,
    })) ?? [{ address: '', asn: '', password: '', hasPassword: false, holdTimeS: '9', bfd: true }],
  );
  const [vrrpOn, setVrrpOn] = useState(Boolean(a?.vrrp));
  const [vrrp, setVrrp] = useState({
    interface: a?.vrrp?.interface ?? '',
    virtualRouterId: String(a?.vrrp?.virtualRouterId ?? 51),
    priority: String(a?.vrrp?.priority ?? 100),
    advertIntervalMs: String(a?.vrrp?.advertIntervalMs ?? 1000),
  });
  const save = useMutation({
    ...trpc.nodes.setAnnounce.mutationOptions(),
    onSuccess: () => {
      // A password just sent is stored now: the field empties, and leaving it empty keeps it.
      setPeers((list) => list.map((p) => (p.password ? { ...p, password: '', hasPassword: true } : p)));
      return queryClient.invalidateQueries({ queryKey: trpc.nodes.pathKey() });
    },
  });
  const errors = fieldErrors(save.error);
  const err = (path: string) => errors[`announce.${path}`];
  const setPeer = (i: number, patch: Partial<PeerForm>) => setPeers(peers.map((p, j) => (j === i ? { ...p, ...patch } : p)));

  const submit = () => {
    const bgp = bgpOn && {
      localAsn: num(localAsn),
      routerId,
      peers: peers.map((p) => ({
        address: p.address.trim(),
        asn: num(p.asn),
        holdTimeS: num(p.holdTimeS),
        bfd: p.bfd,
        ...(p.password ? { password: p.password } : { keepPassword: p.hasPassword }),
      })),
      ...(peers.some((p) => p.bfd) ? { bfd: { intervalMs: 100, multiplier: 3 } } : {}),
    };
    const v = vrrpOn && {
      interface: vrrp.interface.trim(),
      virtualRouterId: num(vrrp.virtualRouterId),
      priority: num(vrrp.priority),
      advertIntervalMs: num(vrrp.advertIntervalMs),
    };
    save.mutate({ id: node.id, announce: bgp || v ? { ...(bgp ? { bgp } : {}), ...(v ? { vrrp: v } : {}) } : null });
  };

  return (
    <Card title="Announcement settings">
      <form
        className="flex flex-col gap-4 text-sm"
        aria-label="Announcement settings"
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <fieldset disabled={!canEdit} className="flex flex-col gap-3">
          <label className="flex items-center gap-2 font-medium">
            <input type="checkbox" checked={bgpOn} onChange={(e) => setBgpOn(e.target.checked)} /> Announce L3 VIPs over BGP (routed
            network, ECMP)
          </label>
          {bgpOn && (
            <div className="grid gap-3 sm:grid-cols-2">
              <Field label="Local ASN" error={err('bgp.localAsn')} hint="This balancer's AS number (1-4294967294).">
                {(p) => <Input {...p} inputMode="numeric" value={localAsn} onChange={(e) => setLocalAsn(e.target.value)} />}
              </Field>
              <Field label="Router id" error={err('bgp.routerId')} hint="An IPv4 address, usually the balancer's own.">
                {(p) => <Input {...p} value={routerId} onChange={(e) => setRouterId(e.target.value)} />}
              </Field>
              {peers.map((peer, i) => (
                <fieldset key={i} className="col-span-full grid gap-2 rounded border border-slate-200 p-3 sm:grid-cols-2">
                  <legend className="px-1 text-xs font-medium text-slate-600">Peer {i + 1}</legend>
                  <Field label={`Peer ${i + 1} address`} error={err(`bgp.peers.${i}.address`)}>
                    {(p) => <Input {...p} value={peer.address} onChange={(e) => setPeer(i, { address: e.target.value })} />}
                  </Field>
                  <Field label={`Peer ${i + 1} ASN`} error={err(`bgp.peers.${i}.asn`)}>
                    {(p) => <Input {...p} inputMode="numeric" value={peer.asn} onChange={(e) => setPeer(i, { asn: e.target.value })} />}
                  </Field>
                  <Field
                    label={`Peer ${i + 1} password`}
                    error={err(`bgp.peers.${i}.password`)}
                    hint={
                      peer.hasPassword
                        ? 'A password is stored; leave empty to keep it.'
                        : 'Optional TCP MD5 key; the router needs the same.'
                    }
                  >
                    {(p) => (
                      <Input
                        {...p}
                        type="password"
                        autoComplete="off"
                        value={peer.password}
                        onChange={(e) => setPeer(i, { password: e.target.value })}
                      />
                    )}
                  </Field>
                  <Field label={`Peer ${i + 1} hold time (s)`} error={err(`bgp.peers.${i}.holdTimeS`)}>
                    {(p) => (
                      <Input
                        {...p}
                        inputMode="numeric"
                        value={peer.holdTimeS}
                        onChange={(e) => setPeer(i, { holdTimeS: e.target.value })}
                      />
                    )}
                  </Field>
                  <div className="flex flex-wrap items-center gap-3">
                    <label className="flex items-center gap-2">
                      <input type="checkbox" checked={peer.bfd} onChange={(e) => setPeer(i, { bfd: e.target.checked })} /> BFD (sub-second
                      failover)
                    </label>
                    {peer.hasPassword && (
                      <Button variant="secondary" type="button" onClick={() => setPeer(i, { hasPassword: false, password: '' })}>
                        Remove password
                      </Button>
                    )}
                    {peers.length > 1 && (
                      <Button variant="secondary" type="button" onClick={() => setPeers(peers.filter((_, j) => j !== i))}>
                        Remove peer {i + 1}
                      </Button>
                    )}
                  </div>
                </fieldset>
              ))}
              {err('bgp.peers') && <p className="col-span-full text-xs font-medium text-red-700">{err('bgp.peers')}</p>}
              <div className="col-span-full">
                <Button
                  variant="secondary"
                  type="button"
                  onClick={() =>
                    setPeers([...peers, { address: '', asn: '', password: '', hasPassword: false, holdTimeS: '9', bfd: true }])
                  }
                >
                  Add a peer
                </Button>
              </div>
            </div>
          )}
          <label className="flex items-center gap-2 font-medium">
            <input type="checkbox" checked={vrrpOn} onChange={(e) => setVrrpOn(e.target.checked)} /> Own L2/NAT VIPs with VRRP (flat L2
            network, active/standby)
          </label>
          {vrrpOn && (
            <div className="grid gap-3 sm:grid-cols-2">
              <Field label="VRRP interface" error={err('vrrp.interface')}>
                {(p) => <Input {...p} value={vrrp.interface} onChange={(e) => setVrrp({ ...vrrp, interface: e.target.value })} />}
              </Field>
              <Field label="Virtual router id" error={err('vrrp.virtualRouterId')} hint="The same on every balancer of the group (1-255).">
                {(p) => (
                  <Input
                    {...p}
                    inputMode="numeric"
                    value={vrrp.virtualRouterId}
                    onChange={(e) => setVrrp({ ...vrrp, virtualRouterId: e.target.value })}
                  />
                )}
              </Field>
              <Field label="Priority" error={err('vrrp.priority')} hint="1-254; the highest wins when balancers start together.">
                {(p) => (
                  <Input
                    {...p}
                    inputMode="numeric"
                    value={vrrp.priority}
                    onChange={(e) => setVrrp({ ...vrrp, priority: e.target.value })}
                  />
                )}
              </Field>
              <Field
                label="Advertisement interval (ms)"
                error={err('vrrp.advertIntervalMs')}
                hint="A multiple of 10; the standby takes over after about 3."
              >
                {(p) => (
                  <Input
                    {...p}
                    inputMode="numeric"
                    value={vrrp.advertIntervalMs}
                    onChange={(e) => setVrrp({ ...vrrp, advertIntervalMs: e.target.value })}
                  />
                )}
              </Field>
            </div>
          )}
        </fieldset>
        {save.error && <ErrorNote>{errorMessage(save.error)}</ErrorNote>}
        {save.isSuccess && !save.isPending && (
          <p role="status" className="text-green-800">
            Saved; the agent applies it within seconds.
          </p>
        )}
        {canEdit && (
          <div>
            <Button type="submit" busy={save.isPending}>
              Save announcement settings
            </Button>
          </div>
        )}
      </form>
    </Card>
  );
}
