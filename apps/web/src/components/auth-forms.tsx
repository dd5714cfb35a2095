'use client';

import { Email, Password, SignUpInput } from '@tula/validators';
import Link from 'next/link';
import { useRouter, useSearchParams } from 'next/navigation';
import { useState, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { authClient } from '~/lib/auth-client';
import { errorMessage, useTRPC } from '~/trpc/client';
import { ReadyForm } from './ready-form';
import { Button, ErrorNote, Field, Input } from './ui';

function issuesOf(result: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }): Record<string, string> {
  if (result.success || !result.error) return {};
  return Object.fromEntries(result.error.issues.map((i) => [String(i.path[0]), i.message]));
}

export function SignUpForm() {
  const router = useRouter();
  const [values, setValues] = useState({ name: '', email: '', password: '' });
  const [touched, setTouched] = useState<Record<string, boolean>>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const problems = issuesOf(SignUpInput.safeParse(values));
  const show = (k: string) => (touched[k] ? problems[k] : undefined);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setTouched({ name: true, email: true, password: true });
    if (Object.keys(problems).length) return;
    setBusy(true);
    setError(undefined);
    const r = await authClient.signUp.email({ ...values });
    setBusy(false);
    if (r.error)
      setError(
        r.error.status === 429
          ? 'Too many sign-ups from here; wait a minute and try again.'
          : r.error.code === 'INVALID_ORIGIN'
            ? wrongAddress()
            : (r.error.message ?? 'Sign-up failed.'),
      );
    else router.push('/app/onboarding');
  }

  return (
    <ReadyForm onSubmit={submit} noValidate className="flex flex-col gap-4">
      {error && <ErrorNote>{error}</ErrorNote>}
      <Field label="Your name" error={show('name')}>
        {(p) => (
          <Input
            {...p}
            autoComplete="name"
            value={values.name}
            onChange={(e) => setValues({ ...values, name: e.target.value })}
            onBlur={() => setTouched({ ...touched, name: true })}
          />
        )}
      </Field>
      <Field label="Work email" error={show('email')}>
        {(p) => (
          <Input
            {...p}
            type="email"
            autoComplete="email"
            value={values.email}
            onChange={(e) => setValues({ ...values, email: e.target.value })}
            onBlur={() => setTouched({ ...touched, email: true })}
          />
        )}
      </Field>
      <Field label="Password" hint="At least 10 characters." error={show('password')}>
        {(p) => (
          <Input
            {...p}
            type="password"
            autoComplete="new-password"
            value={values.password}
            onChange={(e) => setValues({ ...values, password: e.target.value })}
            onBlur={() => setTouched({ ...touched, password: true })}
          />
        )}
      </Field>
      <Button type="submit" busy={busy}>
        Start the 14-day free trial
      </Button>
      <p className="text-center text-xs text-slate-500">No credit card. Your organisation is created with you as its owner.</p>
    </ReadyForm>
  );
}

/** The panel refused the page's address (its Origin check): it accepts accounts only at its own public address. */
function wrongAddress(): string {
  return `This panel does not take sign-ins at ${window.location.origin}: open it at the address it was started with (TULA_PUBLIC_URL, by default http://localhost and its port).`;
}

export function SignInForm() {
  const router = useRouter();
  const next = useSearchParams().get('next');
  const [values, setValues] = useState({ email: '', password: '' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const r = await authClient.signIn.email({ ...values });
    setBusy(false);
    if (r.error)
      setError(
        r.error.status === 429
          ? 'Too many attempts; wait a minute and try again.'
          : r.error.code === 'INVALID_ORIGIN'
            ? wrongAddress()
            : 'That email and password do not match an account. Check them, or reset your password.',
      );
    else router.push(next && next.startsWith('/') && !next.startsWith('//') ? next : '/app');
  }

  return (
    <ReadyForm onSubmit={submit} className="flex flex-col gap-4">
      {error && <ErrorNote>{error}</ErrorNote>}
      <Field label="Email">
        {(p) => (
          <Input
            {...p}
            type="email"
            autoComplete="email"
            required
            value={values.email}
            onChange={(e) => setValues({ ...values, email: e.target.value })}
          />
        )}
      </Field>
      <Field label="Password">
        {(p) => (
          <Input
            {...p}
            type="password"
            autoComplete="current-password"
            required
            value={values.password}
            onChange={(e) => setValues({ ...values, password: e.target.value })}
          />
        )}
      </Field>
      <Button type="submit" busy={busy}>
        Sign in
      </Button>
      <p className="text-center text-sm">
        <Link className="text-brand-700 underline" href="/forgot-password">
          Forgot your password?
        </Link>
        {' · '}
        <Link className="text-brand-700 underline" href="/login/sso">
          Sign in with SSO
        </Link>
      </p>
    </ReadyForm>
  );
}

/** What went wrong in an SSO sign-in, from better-auth's ?error= code; our words, never the URL's text. */
const SSO_ERRORS: Record<string, string> = {
  sso_domain_not_allowed:
    'Your email domain is not allowed to join this organisation through single sign-on. Ask an owner of the organisation to allow it, or sign in with your password.',
  sso_account_exists:
    'An account with this address already exists and is not a member of this organisation. Sign in with your password; an owner can invite you.',
  sso_not_configured: 'This organisation no longer uses single sign-on. Sign in with your password.',
  invalid_code:
    'The identity provider refused the panel’s sign-in (wrong client ID or secret, or the sign-in took too long). An owner should check the client ID and secret under Team → Single sign-on, then try again.',
  oauth_provider_not_found:
    'The identity provider could not be reached or is not set up. An owner should check the issuer URL under Team → Single sign-on.',
  access_denied: 'You cancelled the sign-in at the identity provider.',
  email_not_found: 'The identity provider did not share your email address; allow the email scope for this client.',
  account_not_linked:
    'An account with this address already exists; the identity provider did not confirm the address. Sign in with your password.',
};

export function SsoSignInForm() {
  const code = useSearchParams().get('error');
  const [value, setValue] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(
    code ? (SSO_ERRORS[code] ?? `Single sign-on failed (${code.slice(0, 60)}). Try again, or sign in with your password.`) : undefined,
  );
  const trpc = useTRPC();
  const discover = useMutation(trpc.sso.discover.mutationOptions());

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const { providerId } = await discover.mutateAsync({ emailOrSlug: value });
      const r = await authClient.signIn.social({
        provider: providerId,
        callbackURL: '/app',
        errorCallbackURL: '/login/sso',
        ...(value.includes('@') && { loginHint: value }),
      });
      if (r.error) setError(SSO_ERRORS.oauth_provider_not_found);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <ReadyForm onSubmit={submit} className="flex flex-col gap-4">
      {error && <ErrorNote>{error}</ErrorNote>}
      <Field label="Work email or organisation ID" hint="Your email's domain finds your organisation; or enter its ID (Team page).">
        {(p) => <Input {...p} autoComplete="email" required value={value} onChange={(e) => setValue(e.target.value)} />}
      </Field>
      <Button type="submit" busy={busy}>
        Continue with SSO
      </Button>
      <p className="text-center text-sm">
        <Link className="text-brand-700 underline" href="/login">
          Sign in with a password
        </Link>
      </p>
    </ReadyForm>
  );
}

/** `mailKept`: no mail server, so the link waits in the panel's outbox for an owner to pass on. */
export function ForgotPasswordForm({ mailKept }: { mailKept: boolean }) {
  const [email, setEmail] = useState('');
  const [sent, setSent] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const problem = Email.safeParse(email).success ? undefined : 'Enter the email address of your account';

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (problem) return setError(problem);
    setBusy(true);
    const r = await authClient.requestPasswordReset({ email, redirectTo: '/reset-password' });
    setBusy(false);
    if (r.error) setError(r.error.status === 429 ? 'Too many requests; wait a minute.' : (r.error.message ?? 'Could not send the link.'));
    else setSent(true);
  }

  if (sent)
    return (
      <p role="status" className="rounded-md bg-emerald-50 p-4 text-sm text-emerald-900">
        {mailKept ? (
          <>
            This panel has no mail server, so no mail is sent. If an account uses {email}, the link to set a new password is kept in the
            panel: an owner of your organisation finds it under Team → Outbox and can pass it on. It is valid for an hour.
          </>
        ) : (
          <>If an account uses {email}, a link to set a new password is on its way. It is valid for an hour.</>
        )}
      </p>
    );
  return (
    <ReadyForm onSubmit={submit} className="flex flex-col gap-4">
      {error && <ErrorNote>{error}</ErrorNote>}
      <Field label="Email">
        {(p) => <Input {...p} type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} />}
      </Field>
      <Button type="submit" busy={busy}>
        Send me a reset link
      </Button>
    </ReadyForm>
  );
}

export function ResetPasswordForm() {
  const router = useRouter();
  const token = useSearchParams().get('token');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const problem = Password.safeParse(password).success ? undefined : 'Use at least 10 characters';

  if (!token) return <ErrorNote>This page needs the link from the reset email. Ask for a new link if it expired.</ErrorNote>;
  async function submit(e: FormEvent) {
    e.preventDefault();
    if (problem) return setError(problem);
    setBusy(true);
    const r = await authClient.resetPassword({ newPassword: password, token: token! });
    setBusy(false);
    if (r.error) setError('This reset link is invalid or expired. Ask for a new one.');
    else router.push('/login?reset=1');
  }
  return (
    <ReadyForm onSubmit={submit} className="flex flex-col gap-4">
      {error && <ErrorNote>{error}</ErrorNote>}
      <Field label="New password" hint="At least 10 characters.">
        {(p) => <Input {...p} type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />}
      </Field>
      <Button type="submit" busy={busy}>
        Set the new password
      </Button>
    </ReadyForm>
  );
}
