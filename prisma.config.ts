// Prisma CLI configuration. The "js" engine spares the CLI its native schema
// engine download, which these machines cannot reach (see docs/ARCHITECTURE.md).
// Migrations are applied by our own runner (packages/db/src/migrate.ts).
import { PrismaPg } from '@prisma/adapter-pg';
import { defineConfig } from 'prisma/config';

// The schema reads DATABASE_URL, and the CLI refuses to parse it while the
// variable is unset, even for commands that never connect (generate, migrate diff).
process.env.DATABASE_URL ??= 'postgresql://database-url-unset.invalid/tula';

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  adapter: async () => new PrismaPg({ connectionString: process.env.DATABASE_URL }),
});
