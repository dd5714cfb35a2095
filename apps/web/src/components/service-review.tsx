'use client';

import type { AppRouter } from '@tula/api';
import type { inferRouterOutputs } from '@trpc/server';
import { ServiceChanges } from './service-changes';
import { Button, Card } from './ui';

export type ServicePreview = inferRouterOutputs<AppRouter>['services']['preview'];

const pct = (part: number, whole: number) => (whole === 0 ? '0%' : `${((100 * part) / whole).toFixed(1)}%`);

/** The review step before an edit is saved: what changes, which nodes get a new document, and which flows move. */
export function ServiceReview({ preview, busy, onApply, onBack }: { preview: ServicePreview; busy: boolean; onApply: () => void; onBack: () => void }) {
  const f = preview.flows;
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
              <strong>{pct(f.establishedMoving, f.entries)}</strong> of existing flows move to another backend (those of backends that are removed or stop taking new flows).
            </p>
            <p className="text-sm text-slate-700">
              {pct(f.changed, f.entries)} of the Maglev lookup table changes backend ({f.changed.toLocaleString()} of {f.entries.toLocaleString()} entries
              {f.sizeBefore !== f.sizeAfter && `; table size ${f.sizeBefore} → ${f.sizeAfter}`}): new connections there go to another backend; established connections of
              backends that stay keep theirs.
            </p>
            {f.toNone > 0 && <p className="text-sm font-medium text-red-800">{pct(f.toNone, f.entries)} of entries have no backend afterwards: new connections there are dropped.</p>}
          </section>
        )}
        {preview.listenerChanged && <p className="text-sm font-medium text-amber-800">The VIP, port or protocol changes: connections to the old listener end.</p>}
        <div className="flex flex-wrap gap-3">
          <Button type="button" busy={busy} onClick={onApply}>
            Apply changes
          </Button>
          <Button type="button" variant="secondary" onClick={onBack}>
            Back to editing
          </Button>
        </div>
      </div>
    </Card>
  );
}
