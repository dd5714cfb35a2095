'use client';

import { useQuery } from '@tanstack/react-query';
import { toServiceInput } from '@tula/validators';
import { use } from 'react';
import { ServiceForm } from '~/components/service-form';
import { ErrorNote, Spinner } from '~/components/ui';
import { errorMessage, useTRPC } from '~/trpc/client';

export default function EditService({ params }: { params: Promise<{ id: string }> }) {
  const { id } = use(params);
  const trpc = useTRPC();
  const q = useQuery(trpc.services.get.queryOptions({ id }));
  if (q.error) return <ErrorNote>{errorMessage(q.error)}</ErrorNote>;
  if (!q.data) return <Spinner label="Loading the service…" />;
  const s = q.data;
  return (
    <div className="flex flex-col gap-4">
      <h1 className="text-2xl font-semibold">Edit {s.name}</h1>
      <ServiceForm
        serviceId={id}
        initial={toServiceInput({ ...s, balancerNodeIds: s.balancers.map((b) => b.node.id) })}
      />
    </div>
  );
}
