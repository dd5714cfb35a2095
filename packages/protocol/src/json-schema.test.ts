import { readFileSync, writeFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { desiredStateJsonSchema } from './json-schema.ts';

const file = new URL('../../../docs/desired-state.schema.json', import.meta.url);

it('docs/desired-state.schema.json matches the zod schema (UPDATE_SCHEMA=1 rewrites it)', () => {
  const text = `${JSON.stringify(desiredStateJsonSchema(), null, 2)}\n`;
  if (process.env.UPDATE_SCHEMA) writeFileSync(file, text);
  expect(readFileSync(file, 'utf8')).toBe(text);
});

it('the example from the documentation validates against the exported schema shape', () => {
  const schema = desiredStateJsonSchema() as { properties: Record<string, unknown>; required: string[] };
  expect(schema.required).toEqual(expect.arrayContaining(['apiVersion', 'version']));
  expect(Object.keys(schema.properties)).toEqual(['apiVersion', 'version', 'balancer', 'backend']);
});
