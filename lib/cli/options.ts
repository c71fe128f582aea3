import { defaultDevice, parseDevice, type Device } from '../../kernels/device';
import type { Precision } from '../../kernels/layers';
import { EXPERT_INPUTS, type ExpertInputs } from '../../kernels/native';

/** Numeric command-line options shared by `run` and `capture`: a bad value is an error naming the flag, never a silent default. */

export class OptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptionError';
  }
}

/** The sampler seeds a 32-bit PRNG (SeededRandom): a larger seed would silently alias a smaller one. */
export const MAX_SEED = 2 ** 32 - 1;

export function numberOption(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new OptionError(`${flag} must be a number (got "${value}")`);
  return parsed;
}

export interface IntegerRange {
  min: number;
  max?: number;
  /** Why the range is what it is, added to the error. */
  why?: string;
}

export function integerOption(value: string | undefined, flag: string, fallback: number, range: IntegerRange): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (value.trim() === '' || !Number.isSafeInteger(parsed) || parsed < range.min || parsed > max) {
    const bounds = range.max === undefined ? `>= ${range.min}` : `in ${range.min}..${range.max}`;
    throw new OptionError(`${flag} must be an integer ${bounds}${range.why ? ` (${range.why})` : ''}; got "${value}"`);
  }
  return parsed;
}

export const seedOption = (value: string | undefined): number =>
  integerOption(value, '--seed', 0, { min: 0, max: MAX_SEED, why: 'the sampler seed is 32 bits' });

/** Undefined means "all cores" (the runtime's default). */
export const threadsOption = (value: string | undefined): number | undefined =>
  value === undefined ? undefined : integerOption(value, '--threads', 1, { min: 1, why: 'onnxruntime intra-op threads' });

export const maxNewTokensOption = (value: string | undefined): number => integerOption(value, '--max-new-tokens', 256, { min: 1 });

export const attentionTopKOption = (value: string | undefined): number => integerOption(value, '--attention-top-k', 8, { min: 1 });

/** --device cpu|webgpu; without the flag, COTSCOPE_DEVICE, else cpu. */
export const deviceOption = (value: string | undefined): Device => (value === undefined ? defaultDevice() : parseDevice(value, '--device'));

export const DEVICE_HELP = '--device cpu|webgpu      execution provider (default $COTSCOPE_DEVICE, else cpu); webgpu uses the high-performance adapter';

export function precisionOption(value: string | undefined): Precision {
  if (value === undefined) return 'fp32';
  if (value === 'fp32' || value === 'fp16') return value;
  throw new OptionError(`--precision must be fp32 or fp16 (got "${value}")`);
}

export function expertInputsOption(value: string | undefined): ExpertInputs {
  if (value === undefined) return 'f32';
  const known = EXPERT_INPUTS.find((inputs) => inputs === value);
  if (known) return known;
  throw new OptionError(`--expert-inputs must be ${EXPERT_INPUTS.join(' or ')} (got "${value}")`);
}

export const EXPERT_INPUTS_HELP = '--expert-inputs f32|q8  native MXFP4 experts: q8 rounds their inputs to 8-bit blocks as llama.cpp does (faster, lossy: drift in the README; named in the trace\'s device); default f32, exact';

export const PRECISION_HELP = '--precision fp32|fp16   webgpu: fp16 experts and lm_head (default fp32; drift per tap in the README)';
