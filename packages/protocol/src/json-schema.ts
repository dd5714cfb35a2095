import { z } from 'zod';
import { DesiredState } from './desired-state.ts';

/** The JSON Schema of the desired-state document (input form: defaults may be omitted). */
export function desiredStateJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(DesiredState, { io: 'input', unrepresentable: 'any' }),
    $id: 'https://tula.dev/schemas/desired-state-v1.json',
    title: 'Tula desired state, v1',
    description:
      'What one host should do: the services it balances (balancer) and the VIPs it serves (backend). Cross-field rules (one of port/ports, no overlapping listeners, unique names) are checked by the agent beyond this schema.',
  };
}
