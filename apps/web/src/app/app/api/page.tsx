'use client';

// The HTTP API reference, rendered from /api/openapi.json (the document the
// API is generated with; nothing is loaded from elsewhere).
import { useQuery } from '@tanstack/react-query';
import { Badge, Card, Spinner } from '~/components/ui';
import { LoadError } from '~/components/load-error';

interface Parameter {
  name: string;
  in: string;
  required: boolean;
  schema: unknown;
}
interface Operation {
  operationId: string;
  summary: string;
  tags: string[];
  parameters: Parameter[];
  requestBody?: { content: { 'application/json': { schema: unknown } } };
}
interface Document {
  info: { title: string; description: string };
  servers: { url: string }[];
  tags: { name: string }[];
  paths: Record<string, Record<string, Operation>>;
}

const tone = { get: 'blue', post: 'green', put: 'amber', delete: 'red' } as const;

export default function ApiReference() {
  const doc = useQuery({
    queryKey: ['openapi'],
    queryFn: async (): Promise<Document> => {
      const res = await fetch('/api/openapi.json');
      if (!res.ok) throw new Error(`the panel answered ${res.status}`);
      return res.json();
    },
  });
  if (!doc.data) return doc.error ? <LoadError query={doc} what="the API description" /> : <Spinner label="Loading the API description…" />;
  const { info, servers, tags, paths } = doc.data;
  const operations = Object.entries(paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method, op })));
  return (
    <div className="flex flex-col gap-4">
      <h1 className="text-2xl font-semibold">{info.title}</h1>
      <Card>
        <p className="text-sm">{info.description}</p>
        <p className="mt-2 text-sm">
          Base URL <code className="break-all">{servers[0]?.url}</code>; machine-readable description:{' '}
          <a className="underline" href="/api/openapi.json">
            /api/openapi.json
          </a>{' '}
          (OpenAPI 3.1).
        </p>
        <pre className="mt-2 overflow-x-auto rounded bg-slate-100 p-2 text-xs">{`curl -H "Authorization: Bearer $TULA_TOKEN" ${servers[0]?.url}/services`}</pre>
      </Card>
      {tags.map((tag) => (
        <section key={tag.name} className="flex flex-col gap-2">
          <h2 className="text-lg font-semibold">{tag.name}</h2>
          {operations
            .filter(({ op }) => op.tags.includes(tag.name))
            .map(({ path, method, op }) => (
              <Card
                key={op.operationId}
                title={
                  <span className="flex flex-wrap items-center gap-2">
                    <Badge tone={tone[method as keyof typeof tone] ?? 'slate'}>{method.toUpperCase()}</Badge>
                    <code className="break-all text-sm">{path}</code>
                  </span>
                }
              >
                <p className="text-sm">{op.summary}</p>
                {op.parameters.length > 0 && (
                  <ul className="mt-2 text-sm">
                    {op.parameters.map((p) => (
                      <li key={`${p.in}-${p.name}`}>
                        <code>{p.name}</code>{' '}
                        <span className="text-slate-500">
                          ({p.in}
                          {p.required ? ', required' : ''})
                        </span>{' '}
                        <code className="break-all text-xs text-slate-600">{JSON.stringify(p.schema)}</code>
                      </li>
                    ))}
                  </ul>
                )}
                {op.requestBody && (
                  <details className="mt-2 text-sm">
                    <summary className="cursor-pointer">Request body (JSON Schema)</summary>
                    <pre className="overflow-x-auto rounded bg-slate-100 p-2 text-xs">
                      {JSON.stringify(op.requestBody.content['application/json'].schema, null, 2)}
                    </pre>
                  </details>
                )}
              </Card>
            ))}
        </section>
      ))}
    </div>
  );
}
