import { Suspense } from 'react';
import { AuthPage } from '~/components/auth-page';
import { SsoSignInForm } from '~/components/auth-forms';

export const metadata = { title: 'Sign in with SSO' };

export default function SsoLogin() {
  return (
    <AuthPage title="Sign in with SSO">
      <Suspense>
        <SsoSignInForm />
      </Suspense>
    </AuthPage>
  );
}
