'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { errorMessage, useTRPC } from '~/trpc/client';
import { Button, ErrorNote, Field, Input } from './ui';

/**
 * Creates an enrollment token and shows the one line that installs, enrolls and
 * starts the agent on a host (shown once); ticks itself when a node enrolls with it.
 */
export function AddNode({ disabled }: { disabled?: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [copied, setCopied] = useState(false);
  const [maxUses, setMaxUses] = useState('1');
  const uses = Number(maxUses);
  const usesValid = Number.isInteger(uses) && uses >= 1 && uses <= 1000;
  const create = useMutation({
    ...trpc.tokens.create.mutationOptions(),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: trpc.org.summary.queryKey() });
      void queryClient.invalidateQueries({ queryKey: trpc.tokens.list.queryKey() });
    },
  });
  const created = create.data;
  // Until every use of the token is taken, look for the nodes it enrolled.
  const tokens = useQuery({ ...trpc.tokens.list.queryOptions(), enabled: Boolean(created), refetchInterval: 2000 });
  const enrolled = created ? (tokens.data?.find((t) => t.id === created.id)?.nodes ?? []) : [];
  // False when the panel has no agent build to serve: the line would fetch a script that only fails.
  const noDownloads = useQuery(trpc.org.summary.queryOptions()).data?.agentDownloads === false;
  const noDownloadsNote = noDownloads && (
    <p
      role="alert"
      data-testid="agent-downloads-missing"
      className="rounded-md border border-amber-300 bg-amber-50 p-2 text-sm text-amber-900"
    >
      This panel has no agent build to serve yet, so the install line fails on the host. On the panel&apos;s machine run{' '}
      <code className="whitespace-nowrap">npm run build:agent-binary</code>, then reload this page
      {created ? ' (this token stays valid: run the line below once the build is in place).' : '.'}
    </p>
  );
  if (created) {
    return (
      <div className="flex flex-col gap-2">
        {noDownloadsNote}
        <p className="text-sm text-slate-700">
          Paste this on the host (Debian or Ubuntu, x86_64; it needs curl and root). It downloads the agent from this panel, checks its
          SHA-256, installs it as a systemd service, enrolls and starts it. The token works{' '}
          {created.maxUses === 1 ? 'once' : `${created.maxUses} times`} and expires in{' '}
          {Math.round((new Date(created.expiresAt).getTime() - Date.now()) / 3600_000)} hours; run the line again later to upgrade the
          agent.
        </p>
        {created.publicUrlIsLoopback && (
          <p
            role="alert"
            data-testid="public-url-warning"
            className="rounded-md border border-amber-300 bg-amber-50 p-2 text-sm text-amber-900"
          >
            This panel calls itself {created.publicUrl}, which other hosts cannot reach. Set TULA_PUBLIC_URL to the address hosts use for
            this panel (for example https://tula.example.com) and restart the panel, then add the node again.
          </p>
        )}
        {created.publicUrlIsPlainHttp && (
          <p
            role="alert"
            data-testid="plain-http-warning"
            className="rounded-md border border-amber-300 bg-amber-50 p-2 text-sm text-amber-900"
          >
            This panel is plain http://, so the line below passes --insecure: the node&apos;s credential and desired states cross the
            network unencrypted. Outside an isolated lab network, put TLS in front of the panel and set TULA_PUBLIC_URL to its https://
            address.
          </p>
        )}
        <pre
          data-testid="agent-command"
          className="overflow-x-auto whitespace-pre-wrap break-all rounded-md bg-slate-900 p-3 text-xs text-slate-100"
        >
          {created.command}
        </pre>
        <div className="flex flex-wrap items-center gap-3">
          <Button
            variant="secondary"
            onClick={async () => {
              await navigator.clipboard.writeText(created.command).catch(() => undefined);
              setCopied(true);
            }}
          >
            {copied ? 'Copied' : 'Copy the command'}
          </Button>
          <p className="text-sm" role="status" data-testid="enrolled-with-token">
            {enrolled.length === 0 ? (
              <span className="text-slate-600">
                {noDownloads ? 'No node can enroll until the agent is built (see above).' : 'Waiting for the node to enroll…'}
              </span>
            ) : (
              <span className="font-medium text-emerald-700">
                ✓ Enrolled: {enrolled.map((n) => n.name).join(', ')}
                {created.maxUses > 1 && ` (${enrolled.length} of ${created.maxUses})`}
              </span>
            )}
          </p>
        </div>
      </div>
    );
  }
  return (
    <form
      className="flex flex-col gap-2"
      onSubmit={(e) => {
        e.preventDefault();
        if (usesValid) create.mutate({ maxUses: uses, ...(uses > 1 ? { description: `for ${uses} nodes` } : {}) });
      }}
    >
      {create.error && <ErrorNote>{errorMessage(create.error)}</ErrorNote>}
      {noDownloadsNote}
      <div className="flex flex-wrap items-start gap-3">
        <div className="w-40">
          <Field
            label="Nodes to enroll"
            hint="More than 1: one token for automation (cloud-init, Ansible)."
            error={usesValid ? undefined : 'A whole number from 1 to 1000.'}
          >
            {(a) => <Input {...a} type="number" min={1} max={1000} value={maxUses} onChange={(e) => setMaxUses(e.target.value)} />}
          </Field>
        </div>
        <Button type="submit" className="mt-6" busy={create.isPending} disabled={disabled || !usesValid}>
          Add a node
        </Button>
      </div>
    </form>
  );
}
