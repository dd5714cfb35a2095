import { headers } from 'next/headers';
import { redirect } from 'next/navigation';
import { panelRuntime } from './runtime';

/** The signed-in user's session, or a redirect to the sign-in page. */
export async function requireSession(next: string) {
  const session = await panelRuntime().auth.api.getSession({ headers: await headers() });
  if (!session) redirect(`/login?next=${encodeURIComponent(next)}`);
  return session;
}

export async function currentSession() {
  return panelRuntime().auth.api.getSession({ headers: await headers() });
}
