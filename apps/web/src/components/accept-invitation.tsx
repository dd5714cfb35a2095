'use client';

import { useMutation } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { errorMessage, useTRPC } from '~/trpc/client';
import { Button, ErrorNote } from './ui';

export function AcceptInvitation({ token }: { token: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const accept = useMutation({ ...trpc.team.accept.mutationOptions(), onSuccess: () => router.push('/app') });
  return (
    <div className="flex flex-col gap-3">
      {accept.error && <ErrorNote>{errorMessage(accept.error)}</ErrorNote>}
      <Button busy={accept.isPending} onClick={() => accept.mutate({ token })}>
        Accept the invitation
      </Button>
    </div>
  );
}
