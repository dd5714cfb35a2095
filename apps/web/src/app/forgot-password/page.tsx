import { AuthPage } from '~/components/auth-page';
import { ForgotPasswordForm } from '~/components/auth-forms';
import { panelRuntime } from '~/server/runtime';

export const metadata = { title: 'Reset your password' };
// Whether mail is sent is the running panel's setting, not the build's.
export const dynamic = 'force-dynamic';

export default function Forgot() {
  return (
    <AuthPage title="Reset your password">
      <ForgotPasswordForm mailKept={panelRuntime().mailer.kind === 'outbox'} />
    </AuthPage>
  );
}
