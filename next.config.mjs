// Next.js configuration for the cotscope workbench.
process.env.NEXT_TELEMETRY_DISABLED = '1';

const dev = process.env.NODE_ENV === 'development';

/**
 * Security headers on every response: no framing (clickjacking), no MIME sniffing, scripts and
 * connections from this origin only. Next's inline bootstrap needs 'unsafe-inline'; the dev server
 * also needs eval and its websocket.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  `script-src 'self' 'unsafe-inline'${dev ? " 'unsafe-eval'" : ''}`,
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  `connect-src 'self'${dev ? ' ws: wss:' : ''}`,
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS = [
  { key: 'Content-Security-Policy', value: CONTENT_SECURITY_POLICY },
  { key: 'X-Frame-Options', value: 'DENY' },
  { key: 'X-Content-Type-Options', value: 'nosniff' },
  { key: 'Referrer-Policy', value: 'same-origin' },
  { key: 'Cross-Origin-Opener-Policy', value: 'same-origin' },
];

/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // Native or WASM server packages must be loaded by Node at run time, never bundled.
  serverExternalPackages: [
    'onnxruntime-node',
    '@electric-sql/pglite',
    'pglite-prisma-adapter',
    '@prisma/client',
    '@prisma/adapter-pg',
    'pg',
    'pg-boss',
    'gpt-tokenizer',
    'node-llama-cpp',
    'hyparquet',
    'hyparquet-writer',
    'webgpu',
  ],
  // Where COTSCOPE_DIST_DIR is set (tests, benchmarks) builds go there so they do not fight `npm start`.
  distDir: process.env.COTSCOPE_DIST_DIR || '.next',
  async headers() {
    return [{ source: '/:path*', headers: SECURITY_HEADERS }];
  },
};

export default nextConfig;
