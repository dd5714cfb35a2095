// docker-compose.yml must stay valid for users even though no Docker engine runs
// here: dclint checks it against the Compose Specification's JSON schema (and
// its own rules), `docker compose config` too where the Compose plugin exists,
// and the structure the README documents is checked everywhere.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('../', import.meta.url));
const text = readFileSync(`${root}docker-compose.yml`, 'utf8');
const compose = parse(text);

/** dclint's style rules this file departs from on purpose; the schema check cannot be turned off. */
const DISABLED_RULES = [
  'no-build-and-image', // built here and tagged tula-panel, so the image can be reused and pushed
  'service-image-require-explicit-tag', // that local tag
  'no-unbound-port-interfaces', // the panel is meant to be reached (through the TLS proxy)
  'service-keys-order',
  'services-alphabetical-order',
  'require-quotes-in-ports',
];

async function dclint(file: string): Promise<{ code: number; output: string }> {
  const args = [file, '--color=false', ...DISABLED_RULES.flatMap((r) => ['--disable-rule', r])];
  return promisify(execFile)(`${root}node_modules/.bin/dclint`, args).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({
      code: err.code ?? -1,
      output: `${err.stdout ?? ''}${err.stderr ?? ''}`,
    }),
  );
}

it('describes PostgreSQL and the panel built from this repository, behind TLS', () => {
  expect(Object.keys(compose.services).sort()).toEqual(['panel', 'postgres']);
  expect(compose.services.panel.build).toBe('.');
  expect(existsSync(`${root}Dockerfile`)).toBe(true);
  expect(compose.services.panel.environment.DATABASE_URL).toMatch(/^postgresql:\/\/tula:\$\{POSTGRES_PASSWORD\}@postgres:5432\/tula$/);
  expect(compose.services.panel.environment.TULA_PUBLIC_URL).toMatch(/^\$\{TULA_PUBLIC_URL:\?.*https:\/\//);
  expect(compose.services.panel.depends_on.postgres.condition).toBe('service_healthy');
  expect(compose.volumes).toHaveProperty('pgdata');
});

it('passes the Compose schema (dclint)', async () => {
  const { code, output } = await dclint(`${root}docker-compose.yml`);
  expect(output).not.toMatch(/error/i);
  expect(code).toBe(0);
});

it('the schema check fails a broken copy (so the check above can fail)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tula-compose-'));
  const broken = join(dir, 'docker-compose.yml');
  // A misspelt key and a condition Compose does not know: both outside the schema.
  writeFileSync(
    broken,
    text
      .replace('restart: unless-stopped', 'restrat: unless-stopped')
      .replace('condition: service_healthy', 'condition: when-it-feels-like-it'),
  );
  const { code, output } = await dclint(broken);
  expect(code).not.toBe(0);
  expect(output).toMatch(/schema/i);
});

it('passes `docker compose config`', async (ctx) => {
  const hasCompose = await promisify(execFile)('docker', ['compose', 'version']).then(
    () => true,
    () => false,
  );
  ctx.skip(!hasCompose, 'no Docker Compose plugin on this machine (docker compose version failed)');
  const { stdout } = await promisify(execFile)('docker', ['compose', '-f', `${root}docker-compose.yml`, 'config', '--quiet'], {
    env: { ...process.env, POSTGRES_PASSWORD: 'x', TULA_PUBLIC_URL: 'https://panel.example' },
  });
  expect(stdout).toBe('');
});
