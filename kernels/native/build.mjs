/**
 * Builds the native kernels (kernels/native) with the node-gyp that ships inside npm, offline.
 * Run by `npm install`/`npm ci` (postinstall) and by `npm run native:build`. A failed build does
 * not fail the install: the runtime then says the native kernels are missing and falls back to
 * int8 QMoE experts (chooseExpertPath in lib/runtime/runtime.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const strict = process.argv.includes('--strict');

/** npm exports its bundled node-gyp to scripts; otherwise look beside the running node. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.resolve(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  ];
  return candidates.find((file) => file && existsSync(file));
}

/** Headers of the running node, so node-gyp does not download them. */
function nodeHeaderDir() {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null;
}

function fail(message) {
  console.error(`cotscope: native kernels not built (${message}); the runtime will use int8 QMoE experts instead`);
  process.exit(strict ? 1 : 0);
}

const nodeGyp = findNodeGyp();
if (!nodeGyp) fail('node-gyp not found: it ships with npm');
const args = [nodeGyp, 'rebuild'];
const headers = nodeHeaderDir();
if (headers) args.push(`--nodedir=${headers}`);
const result = spawnSync(process.execPath, args, { cwd: here, stdio: ['ignore', 'inherit', 'inherit'] });
if (result.status !== 0) fail(`node-gyp exited with ${result.status ?? result.signal}`);
console.log('cotscope: native kernels built (kernels/native/build/Release/cotscope_native.node)');
