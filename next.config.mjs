// Next.js configuration for the cotscope workbench.
process.env.NEXT_TELEMETRY_DISABLED = '1';

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
  ],
  // Where COTSCOPE_DIST_DIR is set (tests, benchmarks) builds go there so they do not fight `npm start`.
  distDir: process.env.COTSCOPE_DIST_DIR || '.next',
};

export default nextConfig;
