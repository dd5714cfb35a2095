import Link from 'next/link';
import { AuthPage } from '~/components/auth-page';
import { SignUpForm } from '~/components/auth-forms';

export const metadata = { title: 'Start your free trial' };

export default function SignUp() {
  return (
    <AuthPage
      title="Start your free trial"
      footer={
        <>
          Already have an account?{' '}
          <Link className="text-brand-700 underline" href="/login">
            Sign in
          </Link>
        </>
      }
    >
      <SignUpForm />
    </AuthPage>
  );
}
