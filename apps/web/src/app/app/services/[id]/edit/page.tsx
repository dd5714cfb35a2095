'use client';

import { useQuery } from '@tanstack/react-query';
import { toServiceInput } from '@tula/validators';
import { use } from 'react';
import { ServiceForm } from '~/components/service-form';
import { LoadError } from '~/components/load-error';
import { Spinner } from '~/components/ui';
import { useTRPC } from '~/trpc/client';

export default function EditService({ params }: { params: Promise<{ id: string }> }) {
  const { id } = use(params);
  const trpc = useTRPC();
  const q = useQuery(trpc.services.get.queryOptions({ id }));
  // A failed refresh (on focus) must not unmount the form: the edit being typed would be lost.
  if (!q.data) return q.error ? <LoadError query={q} what="this service" /> : <Spinner label="Loading the service…" />;
  const s = q.data;
  return (
    <div className="flex flex-col gap-4">
      <h1 className="text-2xl font-semibold">Edit {s.name}</h1>
      <LoadError query={q} what="this service" />
      <ServiceForm serviceId={id} initial={toServiceInput({ ...s, balancerNodeIds: s.balancers.map((b) => b.node.id) })} />
    </div>
  );
}
