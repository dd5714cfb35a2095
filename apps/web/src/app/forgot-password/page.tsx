import { AuthPage } from '~/components/auth-page';
import { ForgotPasswordForm } from '~/components/auth-forms';

export const metadata = { title: 'Reset your password' };

export default function Forgot() {
  return (
    <AuthPage title="Reset your password">
      <ForgotPasswordForm />
    </AuthPage>
  );
}
