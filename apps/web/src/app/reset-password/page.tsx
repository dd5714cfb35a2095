import { Suspense } from 'react';
import { AuthPage } from '~/components/auth-page';
import { ResetPasswordForm } from '~/components/auth-forms';

export const metadata = { title: 'Set a new password' };

export default function Reset() {
  return (
    <AuthPage title="Set a new password">
      <Suspense>
        <ResetPasswordForm />
      </Suspense>
    </AuthPage>
  );
}
