import { ModelError } from '@tula/nft';
import { CommandError } from '../exec.ts';
import { FactsError } from '../host/facts.ts';
import { NftError } from '../kernel/nft.ts';

/** One line an operator can act on, for any failure of a convergence. */
export function describeError(err: unknown): string {
  if (err instanceof NftError || err instanceof ModelError || err instanceof FactsError || err instanceof CommandError) {
    return err.message;
  }
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
