/**
 * WebGPU tests skip, saying why, only where no adapter exists; in CI (CI=true) a missing adapter
 * fails instead, because .ci/run installs one (Mesa's llvmpipe).
 */
import { probeWebGpu } from '../kernels/device';

/** false when a WebGPU adapter is there; otherwise the reason to skip (printed by node:test). */
export async function webGpuSkipReason(): Promise<string | false> {
  const { adapter, reason } = await probeWebGpu();
  if (adapter) return false;
  if (process.env.CI === 'true') throw new Error(`CI must have a WebGPU adapter (.ci/run installs Mesa's llvmpipe): ${reason}`);
  console.log(`# WebGPU tests skipped: ${reason}`);
  return `no WebGPU adapter: ${reason}`;
}
