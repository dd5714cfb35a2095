import { HealthPanel } from './health-panel';

export const metadata = { title: 'Health' };

export default function HealthPage() {
  return (
    <main className="mx-auto max-w-xl px-6 py-16">
      <h1 className="mb-6 text-2xl font-semibold">Control panel health</h1>
      <HealthPanel />
    </main>
  );
}
