import Link from 'next/link';
import { AuthPage } from '~/components/auth-page';
import { AcceptInvitation } from '~/components/accept-invitation';
import { currentSession } from '~/server/session';

export const dynamic = 'force-dynamic';

export default async function Invite({ params }: { params: Promise<{ token: string }> }) {
  const { token } = await params;
  const session = await currentSession();
  const here = `/invite/${token}`;
  return (
    <AuthPage title="Join an organisation on Tula">
      {session ? (
        <AcceptInvitation token={token} />
      ) : (
        <p className="text-sm text-slate-700">
          <Link className="text-brand-700 underline" href={`/login?next=${encodeURIComponent(here)}`}>
            Sign in
          </Link>{' '}
          or{' '}
          <Link className="text-brand-700 underline" href="/signup">
            create an account
          </Link>{' '}
          with the invited email address, then open this link again.
        </p>
      )}
    </AuthPage>
  );
}
