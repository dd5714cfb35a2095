import type { ReactNode } from 'react';
import { AppShell } from '~/components/app-shell';
import { requireSession } from '~/server/session';

export const dynamic = 'force-dynamic';

export default async function AppLayout({ children }: { children: ReactNode }) {
  await requireSession('/app');
  return <AppShell>{children}</AppShell>;
}
