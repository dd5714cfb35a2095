import { redirect } from 'next/navigation';
import { LabLogin } from '~/components/lab-login';
import { ThemeToggle } from '~/components/theme-toggle';
import { LinkButton } from '~/components/ui';
import { panelRuntime } from '~/server/runtime';
import { currentSession } from '~/server/session';

export const dynamic = 'force-dynamic';

function Path({ label, hops, note }: { label: string; hops: string[]; note: string }) {
  return (
    <figure className="rounded-lg border border-slate-200 bg-white p-5">
      <figcaption className="mb-3 font-semibold">{label}</figcaption>
      <ol className="flex flex-wrap items-center gap-2 text-sm">
        {hops.map((h, i) => (
          <li key={i} className="flex items-center gap-2">
            <span className="rounded bg-slate-100 px-2 py-1 font-mono">{h}</span>
            {i < hops.length - 1 && <span aria-hidden>→</span>}
          </li>
        ))}
      </ol>
      <p className="mt-3 text-sm text-slate-600">{note}</p>
    </figure>
  );
}

export default async function Home() {
  if (await currentSession()) redirect('/app');
  const demo = panelRuntime().labState?.demoLogin;
  return (
    <main className="mx-auto flex max-w-4xl flex-col gap-10 px-6 py-16">
      <header className="flex flex-col gap-4">
        <p className="text-sm font-semibold uppercase tracking-wide text-brand-700">Tula</p>
        <h1 className="text-4xl font-semibold tracking-tight sm:text-5xl">Direct Server Return load balancing for your whole fleet</h1>
        <p className="max-w-2xl text-lg text-slate-600">
          Your balancers see only the requests. Backends answer clients directly from the virtual IP, so downloads, media and bulk APIs are
          never limited by the balancer. Tula sets up balancers and backends, keeps them in sync, and shows both sides of the traffic live.
        </p>
        <div className="flex flex-wrap gap-3">
          <LinkButton href="/signup">Start a free trial</LinkButton>
          <LinkButton href="/login" variant="secondary">
            Sign in
          </LinkButton>
          <ThemeToggle />
        </div>
        {demo && <LabLogin demo={demo} className="max-w-2xl" />}
      </header>
      <div className="grid gap-4 sm:grid-cols-2">
        <Path
          label="Classic load balancer"
          hops={['client', 'balancer', 'server', 'balancer', 'client']}
          note="Every response byte crosses the balancer."
        />
        <Path
          label="Direct Server Return"
          hops={['client', 'balancer', 'server', 'client']}
          note="Responses go straight back; the balancer carries only requests."
        />
      </div>
    </main>
  );
}
