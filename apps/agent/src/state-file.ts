// Loading a desired-state document from a file, with every problem reported.
import { readFile } from 'node:fs/promises';
import { parseDesiredState, type DesiredState, type Problem } from '@tula/protocol';

export class StateFileError extends Error {
  override name = 'StateFileError';
  constructor(
    readonly file: string,
    readonly problems: Problem[],
  ) {
    super(`${file} is not a valid desired state:\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`);
  }
}

export async function loadStateFile(file: string): Promise<DesiredState> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new StateFileError(file, [
      { path: '$', message: `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` },
    ]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new StateFileError(file, [{ path: '$', message: `not JSON: ${(err as Error).message}` }]);
  }
  const r = parseDesiredState(json);
  if (!r.ok) throw new StateFileError(file, r.problems);
  return r.value;
}
