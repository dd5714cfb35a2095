'use client';

import type { AppRouter } from '@tula/api';
import type { inferRouterOutputs } from '@trpc/server';
import { useState } from 'react';
import { ServiceChanges } from './service-changes';
import { Button, Card, Field, NumberInput, Select } from './ui';

export type ServicePreview = inferRouterOutputs<AppRouter>['services']['preview'];
export interface StagedChoice {
  canary: string;
  holdSeconds: number;
  batchSize: number;
}

const pct = (part: number, whole: number) => (whole === 0 ? '0%' : `${((100 * part) / whole).toFixed(1)}%`);

/** The review step before an edit is saved: what changes, which nodes get a new document, and which flows move. */
export function ServiceReview({
  preview,
  busy,
  onApply,
  onBack,
}: {
  preview: ServicePreview;
  busy: boolean;
  onApply: (staged: StagedChoice | undefined) => void;
  onBack: () => void;
}) {
  const f = preview.flows;
  // Only balancers can be a canary; staging needs at least one that gets the new document.
  const balancers = preview.nodes.filter((n) => n.role !== 'backend');
  const [staged, setStaged] = useState(false);
  const [choice, setChoice] = useState<StagedChoice>({ canary: balancers[0]?.id ?? '', holdSeconds: 300, batchSize: 1 });
  return (
    <Card title="Review the change">
      <div className="flex flex-col gap-4" data-testid="service-review">
        <section>
          <h3 className="mb-1 text-sm font-semibold">Fields that change</h3>
          <ServiceChanges changes={preview.changes} label="Fields that change" />
        </section>
        <section>
          <h3 className="mb-1 text-sm font-semibold">Nodes that receive a new document ({preview.nodes.length})</h3>
          {preview.nodes.length === 0 ? (
            <p className="text-sm text-slate-600">No node&apos;s document changes.</p>
          ) : (
            <ul aria-label="Nodes that receive a new document" className="flex flex-wrap gap-2 text-sm">
              {preview.nodes.map((n) => (
                <li key={n.id} className="rounded border border-slate-200 px-2 py-0.5">
                  {n.name} <span className="text-xs text-slate-500">({n.role})</span>
                </li>
              ))}
            </ul>
          )}
        </section>
        {f && (
          <section data-testid="flows-moved">
            <h3 className="mb-1 text-sm font-semibold">Flows</h3>
            <p className="text-sm">
              <strong>{pct(f.establishedMoving, f.entries)}</strong> of existing flows move to another backend (those of backends that are
              removed or stop taking new flows).
            </p>
            <p className="text-sm text-slate-700">
              {pct(f.changed, f.entries)} of the Maglev lookup table changes backend ({f.changed.toLocaleString()} of{' '}
              {f.entries.toLocaleString()} entries
              {f.sizeBefore !== f.sizeAfter && `; table size ${f.sizeBefore} → ${f.sizeAfter}`}): new connections there go to another
              backend; established connections of backends that stay keep theirs.
            </p>
            {f.toNone > 0 && (
              <p className="text-sm font-medium text-red-800">
                {pct(f.toNone, f.entries)} of entries have no backend afterwards: new connections there are dropped.
              </p>
            )}
          </section>
        )}
        {preview.listenerChanged && (
          <p className="text-sm font-medium text-amber-800">The VIP, port or protocol changes: connections to the old listener end.</p>
        )}
        {balancers.length > 0 && (
          <section className="flex flex-col gap-2" aria-label="Staged rollout">
            <label className="flex items-center gap-2 text-sm font-semibold">
              <input type="checkbox" checked={staged} onChange={(e) => setStaged(e.target.checked)} />
              Staged rollout: one balancer first, the others after a hold with no regression
            </label>
            {staged && (
              <div className="grid gap-3 sm:grid-cols-3">
                <Field label="Canary balancer">
                  {(p) => (
                    <Select {...p} value={choice.canary} onChange={(e) => setChoice({ ...choice, canary: e.target.value })}>
                      {balancers.map((n) => (
                        <option key={n.id} value={n.id}>
                          {n.name}
                        </option>
                      ))}
                    </Select>
                  )}
                </Field>
                <Field label="Hold (seconds)" hint="Each batch is watched this long for NACKs, backends going down and drops.">
                  {(p) => (
                    <NumberInput
                      {...p}
                      min={1}
                      max={86400}
                      value={choice.holdSeconds}
                      onValue={(holdSeconds) => setChoice({ ...choice, holdSeconds })}
                    />
                  )}
                </Field>
                <Field label="Batch size" hint="Balancers that take the change together after the canary.">
                  {(p) => (
                    <NumberInput
                      {...p}
                      min={1}
                      max={1000}
                      value={choice.batchSize}
                      onValue={(batchSize) => setChoice({ ...choice, batchSize })}
                    />
                  )}
                </Field>
              </div>
            )}
          </section>
        )}
        <div className="flex flex-wrap gap-3">
          <Button type="button" busy={busy} onClick={() => onApply(staged ? choice : undefined)}>
            {staged ? 'Start staged rollout' : 'Apply changes'}
          </Button>
          <Button type="button" variant="secondary" onClick={onBack}>
            Back to editing
          </Button>
        </div>
      </div>
    </Card>
  );
}
