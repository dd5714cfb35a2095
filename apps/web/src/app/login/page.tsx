import Link from 'next/link';
import { Suspense } from 'react';
import { AuthPage } from '~/components/auth-page';
import { SignInForm } from '~/components/auth-forms';
import { panelRuntime } from '~/server/runtime';

export const metadata = { title: 'Sign in' };

export default async function Login({ searchParams }: { searchParams: Promise<{ reset?: string }> }) {
  const { reset } = await searchParams;
  const demo = panelRuntime().labState?.demoLogin;
  return (
    <AuthPage title="Sign in" footer={<>New to Tula? <Link className="text-brand-700 underline" href="/signup">Start a free trial</Link></>}>
      {reset && <p role="status" className="mb-4 rounded-md bg-emerald-50 p-3 text-sm text-emerald-900">Your password was changed. Sign in with the new one.</p>}
      {demo && (
        <p role="note" className="mb-4 rounded-md bg-amber-50 p-3 text-sm text-amber-900" data-testid="lab-login">
          The local lab runs on this machine: sign in as <strong>{demo.email}</strong> with the password <strong>{demo.password}</strong> to watch it.
        </p>
      )}
      <Suspense>
        <SignInForm />
      </Suspense>
    </AuthPage>
  );
}
