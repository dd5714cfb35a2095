'use client';

import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import Link from 'next/link';
import { usePathname, useRouter } from 'next/navigation';
import type { ReactNode } from 'react';
import { authClient } from '~/lib/auth-client';
import { useTRPC } from '~/trpc/client';
import { ThemeToggle } from './theme-toggle';
import { Button } from './ui';

const NAV = [
  { href: '/app', label: 'Overview' },
  { href: '/app/services', label: 'Services' },
  { href: '/app/fleet', label: 'Fleet' },
  { href: '/app/alerts', label: 'Alerts' },
  { href: '/app/audit', label: 'Audit log' },
  { href: '/app/team', label: 'Team' },
  { href: '/app/api', label: 'API' },
  { href: '/app/account', label: 'Account' },
];

export function AppShell({ children }: { children: ReactNode }) {
  const trpc = useTRPC();
  const router = useRouter();
  const path = usePathname();
  const queryClient = useQueryClient();
  const summary = useQuery(trpc.org.summary.queryOptions());
  // One live feed of fleet changes keeps every page's node data fresh.
  useSubscription(
    trpc.live.fleet.subscriptionOptions(undefined, {
      onData: (tick) => {
        if (!tick.changed) return;
        void queryClient.invalidateQueries({ queryKey: trpc.nodes.pathKey() });
        void queryClient.invalidateQueries({ queryKey: trpc.services.pathKey() });
        void queryClient.invalidateQueries({ queryKey: trpc.org.summary.queryKey() });
      },
    }),
  );
  const s = summary.data;
  return (
    <div className="min-h-screen">
      <header className="border-b border-slate-200 bg-white">
        <div className="mx-auto flex max-w-6xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-3">
          <Link href="/app" className="text-lg font-semibold text-brand-700">
            Tula
          </Link>
          {/* Wraps on a phone rather than scrolling sideways: every page stays one tap away. */}
          <nav aria-label="Main" className="order-3 -mx-1 flex w-full flex-wrap gap-1 sm:order-none sm:w-auto">
            {NAV.map((n) => {
              const active = n.href === '/app' ? path === '/app' : path.startsWith(n.href);
              return (
                <Link
                  key={n.href}
                  href={n.href}
                  aria-current={active ? 'page' : undefined}
                  className={`whitespace-nowrap rounded-md px-3 py-1.5 text-sm ${active ? 'bg-brand-50 font-medium text-brand-700' : 'text-slate-600 hover:bg-slate-100'}`}
                >
                  {n.label}
                </Link>
              );
            })}
          </nav>
          <div className="ml-auto flex items-center gap-3 text-sm">
            {s && <span className="hidden text-slate-600 md:inline">{s.name}</span>}
            <ThemeToggle />
            <Button
              variant="ghost"
              onClick={async () => {
                await authClient.signOut();
                router.push('/login');
              }}
            >
              Sign out
            </Button>
          </div>
        </div>
      </header>
      {s && (
        <div
          role="status"
          className={`border-b px-4 py-2 text-center text-sm ${s.trial.ended ? 'border-red-200 bg-red-50 text-red-900' : 'border-amber-200 bg-amber-50 text-amber-900'}`}
        >
          {s.trial.ended ? (
            <>The free trial has ended: the panel is read-only. Your balancers keep forwarding with their last state.</>
          ) : (
            <>
              Free trial: <strong data-testid="trial-days">{s.trial.daysLeft} days left</strong>{' '}
              <span className="whitespace-nowrap">(until {new Date(s.trial.endsAt).toISOString().slice(0, 10)})</span> · {s.counts.nodes}/
              {s.limits.nodes} nodes · {s.counts.services}/{s.limits.services} services
            </>
          )}
          {s.role === 'viewer' && !s.trial.ended && <> · You are a viewer: you can look, not change.</>}
        </div>
      )}
      <main className="mx-auto max-w-6xl px-4 py-6">{children}</main>
    </div>
  );
}

/** Whether the signed-in user may change things here (not a viewer, trial not over). */
export function useCanEdit(): boolean {
  const trpc = useTRPC();
  const summary = useQuery(trpc.org.summary.queryOptions());
  return summary.data ? !summary.data.readOnly : false;
}
