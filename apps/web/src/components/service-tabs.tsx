import Link from 'next/link';

/** The service page's tabs: its live state, and its revisions. */
export function ServiceTabs({ id, current }: { id: string; current: 'overview' | 'history' }) {
  const tabs = [
    { key: 'overview', label: 'Overview', href: `/app/services/${id}` },
    { key: 'history', label: 'History', href: `/app/services/${id}/history` },
  ] as const;
  return (
    <nav aria-label="Service" className="flex gap-1 border-b border-slate-200">
      {tabs.map((t) => (
        <Link
          key={t.key}
          href={t.href}
          aria-current={t.key === current ? 'page' : undefined}
          className={`-mb-px border-b-2 px-3 py-2 text-sm font-medium ${t.key === current ? 'border-brand-600 text-brand-700' : 'border-transparent text-slate-600 hover:text-slate-900'}`}
        >
          {t.label}
        </Link>
      ))}
    </nav>
  );
}
