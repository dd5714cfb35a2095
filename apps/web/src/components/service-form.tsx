'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { DEFAULT_HEALTH_CHECK, NEW_SERVICE_SETTINGS, ServiceInput } from '@tula/validators';
import { useRouter } from 'next/navigation';
import { useState, type FormEvent } from 'react';
import type { z } from 'zod';
import { errorMessage, fieldErrors, useTRPC } from '~/trpc/client';
import { ServiceReview } from './service-review';
import { Button, ErrorNote, Field, Input, NumberInput, Select } from './ui';

type Form = z.input<typeof ServiceInput>;
type Backend = NonNullable<Form['backends']>[number];

export const EMPTY_SERVICE: Form = {
  name: '',
  vip: '',
  ...NEW_SERVICE_SETTINGS,
  // The default check, with an HTTP check's path and status ready should the person pick one.
  healthCheck: { ...DEFAULT_HEALTH_CHECK, path: '/', expectStatus: 200 },
  balancerNodeIds: [],
  backends: [{ address: '', port: null, weight: 1, state: 'active', nodeId: null }],
};

const MODES = {
  l2: {
    label: 'L2: MAC rewrite',
    needs:
      'Balancer and backends share one L2 segment (VLAN). The balancer answers ARP for the VIP; backends get the VIP on lo with arp_ignore/arp_announce (the agent sets this up).',
  },
  l3: {
    label: 'L3: tunnel',
    needs:
      "Your routers send the VIP to the balancers (static route or BGP). Backends can be in any subnet reachable by IP; they decapsulate and answer from the VIP. The agent creates the tunnel devices and clamps TCP MSS for the tunnel's overhead.",
  },
  nat: {
    label: 'NAT (not DSR)',
    needs:
      'Classic full proxy: responses come back through the balancer. For backends that cannot be set up for DSR. Not DSR: the balancer carries every byte.',
  },
} as const;

/** Problems keyed by path ("backends.0.address"), from the same schema the API uses. */
function problems(form: Form): Record<string, string> {
  const r = ServiceInput.safeParse(form);
  if (r.success) return {};
  const out: Record<string, string> = {};
  for (const i of r.error.issues) out[i.path.join('.')] ??= i.message;
  return out;
}

export function ServiceForm({ initial, serviceId }: { initial: Form; serviceId?: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const nodes = useQuery(trpc.nodes.list.queryOptions());
  const [form, setForm] = useState<Form>(initial);
  const [touched, setTouched] = useState<Set<string>>(new Set());
  const [submitted, setSubmitted] = useState(false);
  const local = problems(form);
  const saved = async (r: { id: string }) => {
    await queryClient.invalidateQueries({ queryKey: trpc.services.pathKey() });
    await queryClient.invalidateQueries({ queryKey: trpc.org.summary.queryKey() });
    router.push(`/app/services/${r.id}`);
  };
  const create = useMutation(trpc.services.create.mutationOptions({ onSuccess: saved }));
  const update = useMutation(trpc.services.update.mutationOptions({ onSuccess: saved }));
  // An edit is saved in two steps: preview (writes nothing), then apply what was reviewed.
  const preview = useMutation(trpc.services.preview.mutationOptions());
  const [reviewed, setReviewed] = useState<ServiceInput | null>(null);
  const save = serviceId ? update : create;
  const failed = save.error ?? preview.error;
  const remote = failed ? fieldErrors(failed) : {};
  const errorFor = (path: string) => ((submitted || touched.has(path)) && local[path]) || remote[path];
  const touch = (path: string) => setTouched((t) => new Set(t).add(path));
  const set = (patch: Partial<Form>) => setForm((f) => ({ ...f, ...patch }));
  const hc = form.healthCheck!;
  const setHc = (patch: Partial<NonNullable<Form['healthCheck']>>) => set({ healthCheck: { ...hc, ...patch } });
  const backends = form.backends ?? [];
  const setBackend = (i: number, patch: Partial<Backend>) => set({ backends: backends.map((b, j) => (j === i ? { ...b, ...patch } : b)) });
  const balancerNodes = (nodes.data ?? []).filter((n) => n.role !== 'backend' && !n.revokedAt);

  function submit(e: FormEvent) {
    e.preventDefault();
    setSubmitted(true);
    if (Object.keys(local).length > 0) {
      // Move focus to the first problem, so keyboard and screen-reader users land on it.
      requestAnimationFrame(() => document.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
      return;
    }
    const input = ServiceInput.parse(form);
    if (serviceId) {
      update.reset();
      preview.mutate({ id: serviceId, service: input }, { onSuccess: () => setReviewed(input) });
    } else create.mutate(input);
  }

  if (serviceId && reviewed && preview.data) {
    return (
      <div className="flex flex-col gap-4">
        {update.error && <ErrorNote>{errorMessage(update.error)}</ErrorNote>}
        <ServiceReview
          preview={preview.data}
          busy={update.isPending}
          onApply={(staged) =>
            update.mutate({
              id: serviceId,
              service: reviewed,
              ...(preview.data.currentRevision !== null && { baseRevision: preview.data.currentRevision }),
              ...(staged && { staged }),
            })
          }
          onBack={() => setReviewed(null)}
        />
      </div>
    );
  }

  return (
    <form onSubmit={submit} noValidate className="flex flex-col gap-6" aria-label={serviceId ? 'Edit service' : 'New service'}>
      {failed && <ErrorNote>{errorMessage(failed)}</ErrorNote>}
      <fieldset className="grid gap-4 rounded-lg border border-slate-200 bg-white p-4 sm:grid-cols-2">
        <legend className="px-1 text-sm font-semibold">Listener</legend>
        <Field label="Name" hint="Letters, digits, dot, dash, underscore." error={errorFor('name')}>
          {(p) => <Input {...p} value={form.name} onChange={(e) => set({ name: e.target.value })} onBlur={() => touch('name')} />}
        </Field>
        <Field label="Virtual IP (VIP)" hint="IPv4 or IPv6, e.g. 203.0.113.10" error={errorFor('vip')}>
          {(p) => (
            <Input
              {...p}
              value={form.vip}
              inputMode="decimal"
              onChange={(e) => set({ vip: e.target.value.trim() })}
              onBlur={() => touch('vip')}
            />
          )}
        </Field>
        <Field label="Port or range" hint="80, or 8000-8100" error={errorFor('ports')}>
          {(p) => <Input {...p} value={form.ports} onChange={(e) => set({ ports: e.target.value.trim() })} onBlur={() => touch('ports')} />}
        </Field>
        <Field label="Protocol" error={errorFor('protocol')}>
          {(p) => (
            <Select {...p} value={form.protocol} onChange={(e) => set({ protocol: e.target.value as 'tcp' | 'udp' })}>
              <option value="tcp">TCP</option>
              <option value="udp">UDP</option>
            </Select>
          )}
        </Field>
      </fieldset>

      <fieldset className="grid gap-4 rounded-lg border border-slate-200 bg-white p-4 sm:grid-cols-2">
        <legend className="px-1 text-sm font-semibold">How traffic reaches the backends</legend>
        <Field label="Mode" error={errorFor('mode')} hint={MODES[form.mode].needs}>
          {(p) => (
            <Select
              {...p}
              value={form.mode}
              onChange={(e) => {
                const mode = e.target.value as Form['mode'];
                // Backend ports are NAT's alone: leaving NAT drops them.
                set({ mode, ...(mode !== 'nat' && { backends: backends.map((b) => ({ ...b, port: null })) }) });
              }}
            >
              {Object.entries(MODES).map(([k, m]) => (
                <option key={k} value={k}>
                  {m.label}
                </option>
              ))}
            </Select>
          )}
        </Field>
        {form.mode === 'l3' && (
          <Field label="Tunnel" hint="VXLAN works on any kernel with vxlan; ipip carries IPv4 only." error={errorFor('tunnel')}>
            {(p) => (
              <Select {...p} value={form.tunnel} onChange={(e) => set({ tunnel: e.target.value as 'ipip' | 'gre' | 'vxlan' })}>
                <option value="vxlan">VXLAN</option>
                <option value="gre">GRE</option>
                <option value="ipip">IP-in-IP</option>
              </Select>
            )}
          </Field>
        )}
        <Field
          label="Ingress interface (optional)"
          hint="Where VIP traffic arrives; empty: worked out from the routing table."
          error={errorFor('ingressInterface')}
        >
          {(p) => (
            <Input
              {...p}
              value={form.ingressInterface ?? ''}
              onChange={(e) => set({ ingressInterface: e.target.value.trim() || null })}
              onBlur={() => touch('ingressInterface')}
            />
          )}
        </Field>
        <div className="sm:col-span-2">
          <p className="mb-1 text-sm font-medium">Balancer nodes</p>
          {balancerNodes.length === 0 ? (
            <p className="text-sm text-slate-600">No node can balance yet: enroll one in Fleet first (role balancer or both).</p>
          ) : (
            <ul className="flex flex-wrap gap-3">
              {balancerNodes.map((n) => (
                <li key={n.id}>
                  <label className="flex items-center gap-2 text-sm">
                    <input
                      type="checkbox"
                      checked={form.balancerNodeIds?.includes(n.id) ?? false}
                      onChange={(e) =>
                        set({
                          balancerNodeIds: e.target.checked
                            ? [...(form.balancerNodeIds ?? []), n.id]
                            : (form.balancerNodeIds ?? []).filter((x) => x !== n.id),
                        })
                      }
                    />
                    {n.name} {!n.online && <span className="text-xs text-slate-500">(offline)</span>}
                  </label>
                </li>
              ))}
            </ul>
          )}
          {errorFor('balancerNodeIds') && <p className="mt-1 text-xs font-medium text-red-700">{errorFor('balancerNodeIds')}</p>}
        </div>
      </fieldset>

      <fieldset className="rounded-lg border border-slate-200 bg-white p-4">
        <legend className="px-1 text-sm font-semibold">Backends</legend>
        <ul className="flex flex-col gap-3">
          {backends.map((b, i) => (
            <li
              key={i}
              className={`grid items-start gap-3 ${form.mode === 'nat' ? 'sm:grid-cols-[2fr_1fr_1fr_1fr_auto]' : 'sm:grid-cols-[2fr_1fr_1fr_auto]'}`}
            >
              <Field label={`Backend ${i + 1} address`} error={errorFor(`backends.${i}.address`)}>
                {(p) => (
                  <Input
                    {...p}
                    value={b.address}
                    onChange={(e) => setBackend(i, { address: e.target.value.trim() })}
                    onBlur={() => touch(`backends.${i}.address`)}
                  />
                )}
              </Field>
              {form.mode === 'nat' && (
                // Only NAT can send to another port; DSR keeps the VIP's.
                <Field label={`Backend ${i + 1} port`} hint="Empty: the VIP's port." error={errorFor(`backends.${i}.port`)}>
                  {(p) => (
                    <Input
                      {...p}
                      type="number"
                      min={1}
                      max={65535}
                      value={b.port ?? ''}
                      onChange={(e) => setBackend(i, { port: e.target.value === '' ? null : Number(e.target.value) })}
                      onBlur={() => touch(`backends.${i}.port`)}
                    />
                  )}
                </Field>
              )}
              <Field label="Weight" error={errorFor(`backends.${i}.weight`)}>
                {(p) => <NumberInput {...p} min={1} max={1000} value={b.weight ?? 1} onValue={(weight) => setBackend(i, { weight })} />}
              </Field>
              <Field label="State" error={errorFor(`backends.${i}.state`)}>
                {(p) => (
                  <Select {...p} value={b.state ?? 'active'} onChange={(e) => setBackend(i, { state: e.target.value as Backend['state'] })}>
                    <option value="active">Active</option>
                    <option value="draining">Draining</option>
                    <option value="disabled">Disabled</option>
                  </Select>
                )}
              </Field>
              <Button
                type="button"
                variant="ghost"
                className="sm:mt-6"
                onClick={() => set({ backends: backends.filter((_, j) => j !== i) })}
                aria-label={`Remove backend ${i + 1}`}
              >
                Remove
              </Button>
            </li>
          ))}
        </ul>
        {errorFor('backends') && <p className="mt-1 text-xs font-medium text-red-700">{errorFor('backends')}</p>}
        <Button
          type="button"
          variant="secondary"
          className="mt-3"
          onClick={() => set({ backends: [...backends, { address: '', port: null, weight: 1, state: 'active', nodeId: null }] })}
        >
          Add a backend
        </Button>
      </fieldset>

      <fieldset className="grid gap-4 rounded-lg border border-slate-200 bg-white p-4 sm:grid-cols-3">
        <legend className="px-1 text-sm font-semibold">Health check</legend>
        <Field label="Type" error={errorFor('healthCheck.type')}>
          {(p) => (
            <Select {...p} value={hc.type} onChange={(e) => setHc({ type: e.target.value as typeof hc.type })}>
              <option value="tcp">TCP connect</option>
              <option value="http">HTTP GET</option>
              <option value="https">HTTPS GET</option>
              <option value="udp">UDP send and expect</option>
              <option value="none">None</option>
            </Select>
          )}
        </Field>
        {(hc.type === 'http' || hc.type === 'https') && (
          <Field label="Path" error={errorFor('healthCheck.path')}>
            {(p) => <Input {...p} value={hc.path ?? '/'} onChange={(e) => setHc({ path: e.target.value })} />}
          </Field>
        )}
        {hc.type === 'udp' && (
          <Field label="Payload to send" error={errorFor('healthCheck.payload')}>
            {(p) => <Input {...p} value={hc.payload ?? ''} onChange={(e) => setHc({ payload: e.target.value })} />}
          </Field>
        )}
        {hc.type !== 'none' && (
          <>
            <Field label="Interval (ms)" error={errorFor('healthCheck.intervalMs')}>
              {(p) => <NumberInput {...p} value={hc.intervalMs ?? 2000} onValue={(intervalMs) => setHc({ intervalMs })} />}
            </Field>
            <Field label="Timeout (ms)" error={errorFor('healthCheck.timeoutMs')}>
              {(p) => <NumberInput {...p} value={hc.timeoutMs ?? 1000} onValue={(timeoutMs) => setHc({ timeoutMs })} />}
            </Field>
            <Field label="Fall / rise" hint="Failures to go down, successes to come back.">
              {(p) => (
                <div className="flex gap-2">
                  <NumberInput {...p} aria-label="Fall" value={hc.fall ?? 3} onValue={(fall) => setHc({ fall })} />
                  <NumberInput aria-label="Rise" value={hc.rise ?? 2} onValue={(rise) => setHc({ rise })} />
                </div>
              )}
            </Field>
          </>
        )}
      </fieldset>

      <label className="flex items-start gap-2 text-sm">
        <input type="checkbox" className="mt-1" checked={form.draft ?? false} onChange={(e) => set({ draft: e.target.checked })} />
        <span>
          Save as a draft
          <span className="block text-xs text-slate-500">
            No node carries a draft, so it may lack balancers and backends; untick to put it in service.
          </span>
        </span>
      </label>

      <div className="flex flex-wrap gap-3">
        <Button type="submit" busy={save.isPending || preview.isPending}>
          {serviceId ? 'Save changes' : 'Create service'}
        </Button>
        <Button type="button" variant="secondary" onClick={() => router.back()}>
          Cancel
        </Button>
        {submitted && Object.keys(local).length > 0 && (
          <p className="self-center text-sm text-red-700">Fix the highlighted fields to save.</p>
        )}
      </div>
    </form>
  );
}
