import Link from 'next/link';
import { Suspense } from 'react';
import { AuthPage } from '~/components/auth-page';
import { SignInForm } from '~/components/auth-forms';
import { LabLogin } from '~/components/lab-login';
import { panelRuntime } from '~/server/runtime';

export const metadata = { title: 'Sign in' };

export default async function Login({ searchParams }: { searchParams: Promise<{ reset?: string }> }) {
  const { reset } = await searchParams;
  const demo = panelRuntime().labState?.demoLogin;
  return (
    <AuthPage
      title="Sign in"
      footer={
        <>
          New to Tula?{' '}
          <Link className="text-brand-700 underline" href="/signup">
            Start a free trial
          </Link>
        </>
      }
    >
      {reset && (
        <p role="status" className="mb-4 rounded-md bg-emerald-50 p-3 text-sm text-emerald-900">
          Your password was changed. Sign in with the new one.
        </p>
      )}
      {demo && <LabLogin demo={demo} className="mb-4" />}
      <Suspense>
        <SignInForm />
      </Suspense>
    </AuthPage>
  );
}
