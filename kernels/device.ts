/**
 * Where the graphs run: onnxruntime's CPU provider, or its bundled WebGPU provider (Dawn over
 * Vulkan on Linux, Metal on macOS, D3D12 on Windows) on the high-performance adapter.
 *
 * onnxruntime-node does not say which adapter its WebGPU provider took, so the adapter is asked for
 * the same way through Dawn's own Node binding (the `webgpu` package): same power preference, same
 * drivers, so the same adapter.
 */
export const DEVICES = ['cpu', 'webgpu'] as const;
export type Device = (typeof DEVICES)[number];

export const WEBGPU_POWER_PREFERENCE = 'high-performance';

export const WEBGPU_INSTALL_HINT =
  'WebGPU needs a Vulkan driver (Metal on macOS, D3D12 on Windows). On Linux with a GPU install its vendor driver; ' +
  'without one, Mesa\'s software device works from Debian bookworm-backports: ' +
  'apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1 (check with vulkaninfo --summary)';

export class NoWebGpuAdapterError extends Error {
  constructor(reason: string) {
    super(`no WebGPU adapter: ${reason}. ${WEBGPU_INSTALL_HINT}`);
    this.name = 'NoWebGpuAdapterError';
  }
}

export interface WebGpuAdapter {
  /** Human-readable: description, else vendor and device. */
  name: string;
  vendor: string;
  architecture: string;
  device: string;
}

/** Parses a device name from a flag or COTSCOPE_DEVICE, naming where it came from when it is wrong. */
export function parseDevice(value: string | undefined, source: string): Device {
  if (value === undefined || value === '') return 'cpu';
  if ((DEVICES as readonly string[]).includes(value)) return value as Device;
  throw new Error(`${source} must be ${DEVICES.join(' or ')} (got "${value}")`);
}

/** The device the app and the CLI use when no flag says otherwise. */
export function defaultDevice(): Device {
  return parseDevice(process.env.COTSCOPE_DEVICE, 'COTSCOPE_DEVICE');
}

function adapterName(info: { vendor: string; architecture: string; device: string; description: string }): string {
  return info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(' ') || 'unnamed adapter';
}

async function requestAdapter(): Promise<WebGpuAdapter> {
  let dawn: typeof import('webgpu');
  try {
    dawn = await import('webgpu');
  } catch (error) {
    throw new NoWebGpuAdapterError(`Dawn's Node binding (package webgpu) did not load: ${error instanceof Error ? error.message : error}`);
  }
  const adapter = await dawn.create([]).requestAdapter({ powerPreference: WEBGPU_POWER_PREFERENCE });
  if (!adapter) throw new NoWebGpuAdapterError('Dawn found no supported adapter');
  const { vendor, architecture, device, description } = adapter.info;
  return { name: adapterName({ vendor, architecture, device, description }), vendor, architecture, device };
}

let adapterLookup: Promise<WebGpuAdapter> | null = null;

/** The WebGPU adapter onnxruntime will use; rejects with NoWebGpuAdapterError (and the install hint) when there is none. */
export function webGpuAdapter(): Promise<WebGpuAdapter> {
  adapterLookup ??= requestAdapter();
  return adapterLookup;
}

/** The adapter, or why there is none (for tests that must say why they skip). */
export async function probeWebGpu(): Promise<{ adapter: WebGpuAdapter; reason: null } | { adapter: null; reason: string }> {
  try {
    return { adapter: await webGpuAdapter(), reason: null };
  } catch (error) {
    return { adapter: null, reason: error instanceof Error ? error.message : String(error) };
  }
}

/** "cpu" or "webgpu (adapter name)": what human output and trace metadata record. */
export function deviceLabel(device: Device, adapter: WebGpuAdapter | null): string {
  return device === 'webgpu' && adapter ? `webgpu (${adapter.name})` : device;
}
