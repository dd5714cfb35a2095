import { describeChange, type ServiceChange } from '@tula/validators';

/** A revision's or a preview's changes, one per line ("mode l2 → l3", "backend 10.0.0.3 added"). */
export function ServiceChanges({ changes, label }: { changes: ServiceChange[]; label: string }) {
  if (changes.length === 0) return <p className="text-sm text-slate-600">No field changes.</p>;
  return (
    <ul aria-label={label} className="flex flex-col gap-0.5 font-mono text-xs text-slate-800">
      {changes.map((c, i) => (
        <li
          key={i}
          className={
            c.kind === 'backend-removed' || c.kind === 'balancer-removed' || c.kind === 'deleted'
              ? 'text-red-800'
              : c.kind.endsWith('added')
                ? 'text-green-800'
                : undefined
          }
        >
          {describeChange(c)}
        </li>
      ))}
    </ul>
  );
}
