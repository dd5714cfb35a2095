'use client';

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { errorMessage, useTRPC } from '~/trpc/client';
import { Button, ErrorNote } from './ui';

/** Creates an enrollment token and shows the one-line agent command (once). */
export function AddNode({ disabled }: { disabled?: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [copied, setCopied] = useState(false);
  const create = useMutation({
    ...trpc.tokens.create.mutationOptions(),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: trpc.org.summary.queryKey() }),
  });
  if (create.data) {
    return (
      <div className="flex flex-col gap-2">
        <p className="text-sm text-slate-700">Run this on the host, as root (the token works once and expires in 24 hours):</p>
        <pre data-testid="agent-command" className="overflow-x-auto rounded-md bg-slate-900 p-3 text-xs text-slate-100">
          {create.data.command}
        </pre>
        <div>
          <Button
            variant="secondary"
            onClick={async () => {
              await navigator.clipboard.writeText(create.data.command).catch(() => undefined);
              setCopied(true);
            }}
          >
            {copied ? 'Copied' : 'Copy the command'}
          </Button>
        </div>
      </div>
    );
  }
  return (
    <div className="flex flex-col gap-2">
      {create.error && <ErrorNote>{errorMessage(create.error)}</ErrorNote>}
      <div>
        <Button onClick={() => create.mutate({})} busy={create.isPending} disabled={disabled}>
          Add a node
        </Button>
      </div>
    </div>
  );
}
