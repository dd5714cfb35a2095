'use client';

// The table of an organisation's tokens (API tokens on the Team page,
// enrollment tokens on the Fleet page): the token's own columns, then Revoke,
// which asks first in the confirm dialog.
import type { ReactNode } from 'react';
import { ConfirmButton } from './confirm-button';
import { Table } from './ui';

export interface TokenColumn<T> {
  head: string;
  cell: (token: T) => ReactNode;
  className?: string;
}

export function TokenTable<T extends { id: string }>({
  caption,
  tokens,
  columns,
  rowTestId,
  revoke,
}: {
  caption: string;
  tokens: T[];
  columns: TokenColumn<T>[];
  rowTestId?: string;
  /** Absent: nobody here may revoke. */
  revoke?: {
    /** What the token is called in the question, e.g. "the token deploy" or "the enrollment token tet_ab12…". */
    name: (token: T) => string;
    /** Its short name on the buttons, e.g. "deploy". */
    label: (token: T) => string;
    /** What revoking it does. */
    description: string;
    /** Still revocable (not already revoked). */
    can?: (token: T) => boolean;
    onRevoke: (token: T) => void;
    busy?: (token: T) => boolean;
  };
}) {
  return (
    <Table caption={caption} head={[...columns.map((c) => c.head), '']}>
      {tokens.map((t) => (
        <tr key={t.id} data-testid={rowTestId}>
          {columns.map((c) => (
            <td key={c.head} className={c.className ?? 'px-3 py-2'}>
              {c.cell(t)}
            </td>
          ))}
          <td className="px-3 py-2 text-right">
            {revoke && (revoke.can?.(t) ?? true) && (
              <ConfirmButton
                variant="ghost"
                aria-label={`Revoke ${revoke.label(t)}`}
                title={`Revoke ${revoke.name(t)}?`}
                description={revoke.description}
                confirmLabel={`Revoke ${revoke.label(t)}`}
                busy={revoke.busy?.(t)}
                onConfirm={() => revoke.onRevoke(t)}
              >
                Revoke
              </ConfirmButton>
            )}
          </td>
        </tr>
      ))}
    </Table>
  );
}
