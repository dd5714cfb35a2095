/** The local lab's demo login (landing and sign-in pages), its email and password kept on one line each. */
export function LabLogin({ demo, className = '' }: { demo: { email: string; password: string }; className?: string }) {
  return (
    <p role="note" className={`rounded-md bg-amber-50 p-3 text-sm text-amber-900 ${className}`} data-testid="lab-login">
      The local lab runs on this machine: sign in as <code className="whitespace-nowrap font-semibold">{demo.email}</code> with the password{' '}
      <code className="whitespace-nowrap font-semibold">{demo.password}</code> to watch it.
    </p>
  );
}
