import type { NextConfig } from 'next';
import { PHASE_PRODUCTION_BUILD } from 'next/constants';

const config = (phase: string): NextConfig => ({
  // The panel image ships .next/standalone, completed with the compiled server.ts by scripts/build-standalone.mjs
  // (whose entry hands Next this build's configuration). Only the build makes it: server.ts, which reads this file
  // again when it starts, is no standalone server, and Next warns one that says so to run `next start` instead.
  ...(phase === PHASE_PRODUCTION_BUILD && { output: 'standalone' as const }),
  // Workspace packages ship TypeScript source.
  transpilePackages: ['@tula/api', '@tula/protocol', '@tula/control', '@tula/gateway', '@tula/validators', '@tula/nft'],
  // Loaded by server.ts, not bundled: native bindings, WASM and the generated Prisma client.
  serverExternalPackages: [
    '@tula/db',
    '@prisma/client',
    '@prisma/adapter-pg',
    'pg',
    '@electric-sql/pglite',
    '@electric-sql/pglite-socket',
    '@node-rs/argon2',
    'ws',
  ],
  // `turbo run typecheck` checks the panel with tsc (npm test runs it first); a second pass in the build only costs time.
  typescript: { ignoreBuildErrors: true },
  poweredByHeader: false,
  // Browsers and crawlers ask for /favicon.ico unprompted; the icon is app/icon.svg.
  async redirects() {
    return [{ source: '/favicon.ico', destination: '/icon.svg', permanent: true }];
  },
  async headers() {
    const dev = process.env.NODE_ENV !== 'production';
    // Next inlines its bootstrap scripts, hence 'unsafe-inline' for scripts; nothing loads from elsewhere.
    const csp = [
      "default-src 'self'",
      `script-src 'self' 'unsafe-inline'${dev ? " 'unsafe-eval'" : ''}`,
      "style-src 'self' 'unsafe-inline'",
      "img-src 'self' data: blob:",
      "connect-src 'self'",
      "font-src 'self'",
      "object-src 'none'",
      "base-uri 'self'",
      "form-action 'self'",
      "frame-ancestors 'none'",
    ].join('; ');
    return [
      {
        source: '/:path*',
        headers: [
          { key: 'Content-Security-Policy', value: csp },
          { key: 'X-Content-Type-Options', value: 'nosniff' },
          { key: 'X-Frame-Options', value: 'DENY' },
          { key: 'Referrer-Policy', value: 'strict-origin-when-cross-origin' },
          { key: 'Permissions-Policy', value: 'camera=(), microphone=(), geolocation=()' },
        ],
      },
    ];
  },
  typedRoutes: false,
});

export default config;
