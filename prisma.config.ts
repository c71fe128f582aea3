/**
 * Prisma CLI configuration. Reads process.env directly: `env("DATABASE_URL")` throws when it is
 * unset, and the embedded PGlite default has no URL (the app applies migrations itself there).
 */
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? '' },
});
