// docker-compose.yml must stay valid for users even though no Docker engine runs
// here: `docker compose config` checks it where the Compose plugin exists, and
// the structure the README documents is checked everywhere.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('../', import.meta.url));
const compose = parse(readFileSync(`${root}docker-compose.yml`, 'utf8'));

it('describes PostgreSQL and the panel built from this repository', () => {
  expect(Object.keys(compose.services).sort()).toEqual(['panel', 'postgres']);
  expect(compose.services.panel.build).toBe('.');
  expect(existsSync(`${root}Dockerfile`)).toBe(true);
  expect(compose.services.panel.environment.DATABASE_URL).toMatch(/^postgresql:\/\/tula:\$\{POSTGRES_PASSWORD\}@postgres:5432\/tula$/);
  expect(compose.services.panel.depends_on.postgres.condition).toBe('service_healthy');
  expect(compose.volumes).toHaveProperty('pgdata');
});

it('passes `docker compose config`', async (ctx) => {
  const hasCompose = await promisify(execFile)('docker', ['compose', 'version']).then(
    () => true,
    () => false,
  );
  ctx.skip(!hasCompose, 'no Docker Compose plugin on this machine (docker compose version failed)');
  const { stdout } = await promisify(execFile)('docker', ['compose', '-f', `${root}docker-compose.yml`, 'config', '--quiet'], {
    env: { ...process.env, POSTGRES_PASSWORD: 'x' },
  });
  expect(stdout).toBe('');
});
