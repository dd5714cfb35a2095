// The documented HTTP API (/api/v1, described at /api/openapi.json): REST routes
// that call the tRPC procedures through a server-side caller, so the same zod
// schemas validate both APIs, and the OpenAPI 3.1 document is generated from
// those schemas with zod's own JSON Schema export (z.toJSONSchema).
//
// Why not trpc-to-openapi (3.3.0, which supports tRPC 11 and zod 4): it
// requires an output schema on every exposed procedure (ours return Prisma rows
// whose types the compiler already checks; a second, hand-kept description of
// them would drift and its parsing would strip fields the panel reads), and its
// query-string coercion mutates the shared input schemas in place, which would
// change what the tRPC endpoint accepts. The route table below is small and
// everything in it comes from the procedures themselves.
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { TRPCError, type inferRouterInputs } from '@trpc/server';
import { z, ZodError } from 'zod';
import { bearerApiToken } from './api-token.ts';
import { createContext, type PanelServices } from './context.ts';
import { appRouter, createCaller } from './root.ts';

type Inputs = inferRouterInputs<typeof appRouter>;
/** "group.procedure", checked against the router. */
type ProcedurePath = { [G in keyof Inputs]: `${G}.${keyof Inputs[G] & string}` }[keyof Inputs];

interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** With {name} for path parameters, each an input field of the procedure. */
  path: string;
  procedure: ProcedurePath;
  tag: string;
  summary: string;
  /** The input field the request body fills (else the body's fields are the input's). */
  bodyField?: string;
}

export const HTTP_API_BASE = '/api/v1';

export const httpRoutes: Route[] = [
  {
    method: 'GET',
    path: '/services',
    procedure: 'services.list',
    tag: 'Services',
    summary: 'List services with their backends and rollout',
  },
  { method: 'GET', path: '/services/{id}', procedure: 'services.get', tag: 'Services', summary: 'Get one service' },
  { method: 'POST', path: '/services', procedure: 'services.create', tag: 'Services', summary: 'Create a service' },
  {
    method: 'PUT',
    path: '/services/{id}',
    procedure: 'services.update',
    tag: 'Services',
    summary: 'Replace a service (its backends included)',
    bodyField: 'service',
  },
  {
    method: 'PUT',
    path: '/services/{serviceId}/backends/{address}/state',
    procedure: 'services.setBackendState',
    tag: 'Backends',
    summary: 'Drain (draining), disable (disabled) or re-activate (active) one backend',
  },
  {
    method: 'PUT',
    path: '/services/{serviceId}/backends/{address}/weight',
    procedure: 'services.setBackendWeight',
    tag: 'Backends',
    summary: "Set one backend's weight",
  },
  { method: 'GET', path: '/nodes', procedure: 'nodes.list', tag: 'Nodes', summary: 'List nodes with their agent and rollout state' },
  {
    method: 'GET',
    path: '/api-tokens',
    procedure: 'apiTokens.list',
    tag: 'API tokens',
    summary: "List the organisation's API tokens with last use (never the tokens)",
  },
  {
    method: 'DELETE',
    path: '/api-tokens/{id}',
    procedure: 'apiTokens.revoke',
    tag: 'API tokens',
    summary: 'Revoke an API token (tokens are created in the panel, Team page)',
  },
  {
    method: 'GET',
    path: '/audit',
    procedure: 'audit.list',
    tag: 'Audit log',
    summary: 'Who changed what, newest first (page with cursor=nextCursor)',
  },
];

function inputSchema(route: Route): z.ZodType {
  const def = (
    appRouter._def.procedures[route.procedure as keyof typeof appRouter._def.procedures] as unknown as { _def: { inputs: z.ZodType[] } }
  )._def;
  return def.inputs[0] ?? z.strictObject({});
}

type JsonSchema = { type?: string; properties?: Record<string, JsonSchema>; required?: string[]; [k: string]: unknown };

function jsonSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

const pathParams = (path: string) => [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);

const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'The tRPC error code, e.g. BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, NOT_FOUND.' },
        message: { type: 'string', description: 'What went wrong and what to do next.' },
        fields: { type: 'object', additionalProperties: { type: 'string' }, description: 'Input problems: field path -> problem.' },
      },
    },
  },
};

/** The OpenAPI 3.1 document of the HTTP API, from the procedures' input schemas. */
export function openApiDocument(publicUrl: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of httpRoutes) {
    const schema = jsonSchema(inputSchema(route));
    const props = schema.properties ?? {};
    const required = new Set(schema.required ?? []);
    const inPath = pathParams(route.path);
    const parameters = inPath.map((name) => ({ name, in: 'path', required: true, schema: props[name] ?? { type: 'string' } }));
    let requestBody: unknown;
    if (route.method === 'GET') {
      for (const [name, s] of Object.entries(props))
        if (!inPath.includes(name)) parameters.push({ name, in: 'query', required: required.has(name), schema: s });
    } else {
      const rest = Object.fromEntries(Object.entries(props).filter(([name]) => !inPath.includes(name)));
      const body = route.bodyField
        ? props[route.bodyField]!
        : { ...schema, properties: rest, required: [...required].filter((n) => !inPath.includes(n)) };
      if (Object.keys(rest).length > 0) requestBody = { required: true, content: { 'application/json': { schema: body } } };
    }
    const errors = Object.fromEntries(
      [
        ['400', 'Invalid input (see error.fields)'],
        ['401', 'Missing, unknown, expired or revoked API token'],
        ['403', 'The token may not do this (viewer role, or the trial has ended)'],
        ['404', "Not found in the token's organisation"],
      ].map(([code, description]) => [
        code,
        { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      ]),
    );
    (paths[route.path] ??= {})[route.method.toLowerCase()] = {
      operationId: route.procedure,
      summary: route.summary,
      tags: [route.tag],
      parameters,
      ...(requestBody ? { requestBody } : {}),
      responses: {
        '200': {
          description: `The result of the tRPC procedure ${route.procedure} as JSON (dates as ISO 8601 strings).`,
          content: { 'application/json': {} },
        },
        ...errors,
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tula HTTP API',
      version: '1',
      description:
        'Every request carries an API token of the organisation: `Authorization: Bearer tula_…` (create one under Team, API tokens). Viewer tokens read; admin tokens also change. Every change is recorded in the audit log under the token’s name.',
    },
    servers: [{ url: `${publicUrl.replace(/\/$/, '')}${HTTP_API_BASE}` }],
    security: [{ apiToken: [] }],
    tags: [...new Set(httpRoutes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: { apiToken: { type: 'http', scheme: 'bearer', description: 'An API token, tula_…' } },
      schemas: { Error: errorSchema },
    },
  };
}

function errorResponse(status: number, code: string, message: string, fields?: Record<string, string>) {
  return Response.json({ error: { code, message, ...(fields ? { fields } : {}) } }, { status });
}

/** A query-string value as the type the input schema expects (numbers and booleans arrive as text). */
function fromQuery(value: string, schema: JsonSchema | undefined): unknown {
  if (schema?.type === 'integer' || schema?.type === 'number') return value.trim() === '' ? value : Number(value);
  if (schema?.type === 'boolean') return value === 'true' ? true : value === 'false' ? false : value;
  return value;
}

function match(method: string, path: string): { route: Route; params: Record<string, string> } | undefined {
  for (const route of httpRoutes) {
    if (route.method !== method) continue;
    const names = pathParams(route.path);
    const re = new RegExp(`^${route.path.replace(/\{\w+\}/g, '([^/]+)')}$`);
    const m = re.exec(path);
    if (m) return { route, params: Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)])) };
  }
  return undefined;
}

/**
 * Serves one request under /api/v1. Only API tokens authenticate here (no
 * cookies, so no cross-site request can act with a browser's session).
 */
export async function handleHttpApi(services: PanelServices, req: Request, clientAddress?: string): Promise<Response> {
  const url = new URL(req.url);
  const found = match(req.method, url.pathname.slice(HTTP_API_BASE.length) || '/');
  if (!found)
    return errorResponse(404, 'NOT_FOUND', `No route ${req.method} ${url.pathname}; the routes are described at /api/openapi.json.`);
  if (!bearerApiToken(req.headers))
    return errorResponse(401, 'UNAUTHORIZED', 'Send an API token: Authorization: Bearer tula_… (create one under Team, API tokens).');
  const { route, params } = found;
  let input: Record<string, unknown> = { ...params };
  if (route.method === 'GET') {
    const props = jsonSchema(inputSchema(route)).properties ?? {};
    for (const [k, v] of url.searchParams) input[k] = fromQuery(v, props[k]);
  } else {
    const text = await req.text();
    let body: unknown = {};
    try {
      if (text.trim() !== '') body = JSON.parse(text);
    } catch {
      return errorResponse(400, 'BAD_REQUEST', 'The request body is not valid JSON.');
    }
    input = route.bodyField ? { ...input, [route.bodyField]: body } : { ...(body as object), ...input };
  }
  const caller = createCaller(await createContext(services, req.headers, clientAddress)) as unknown as Record<
    string,
    Record<string, (input: unknown) => Promise<unknown>>
  >;
  const [group, name] = route.procedure.split('.') as [string, string];
  try {
    const noInput = route.method === 'GET' && Object.keys(input).length === 0;
    return Response.json(await caller[group]![name]!(noInput ? undefined : input));
  } catch (err) {
    if (!(err instanceof TRPCError)) throw err;
    const cause = err.cause instanceof ZodError ? err.cause : undefined;
    const message = cause ? cause.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ') : err.message;
    const fields = cause ? Object.fromEntries(cause.issues.map((i) => [i.path.join('.'), i.message])) : undefined;
    return errorResponse(getHTTPStatusCodeFromError(err), err.code, message, fields);
  }
}
