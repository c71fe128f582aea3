/** `cotscope run`: generate once, print messages by channel (or one JSON document) and speed. */
import { parseArgs } from 'node:util';
import { decode } from '../harmony/tokenizer';
import { renderPrompt, type ReasoningEffort } from '../runtime/prompt';
import { loadRuntime } from '../runtime/runtime';
import type { CaptureOptions } from '../runtime/types';
import { streamableRunJson, writeJsonLine } from '../trace/json-stream';
import type { RunResult } from '../trace/types';
import { attentionTopKOption, DEVICE_HELP, deviceOption, PRECISION_HELP, precisionOption, EXPERT_INPUTS_HELP, expertInputsOption, maxNewTokensOption, numberOption, seedOption, threadsOption } from './options';
import { abortOnStopSignals, SIGNAL_EXIT_CODES } from './signals';

const HELP = `usage: cotscope run --model DIR (--prompt TEXT | --prompt-ids 1,2,3) [options]

  --model DIR            HF-layout gpt-oss checkpoint folder (default models/tiny)
  --prompt TEXT          user message, rendered in harmony
  --effort low|medium|high  reasoning effort in the system message (default medium)
  --system TEXT          model identity line of the system message
  --developer TEXT       developer instructions
  --prompt-ids 1,2,3     raw token ids, no rendering
  --max-new-tokens N     (default 256)
  --temperature T        0 is greedy (default 1)
  --top-p P              nucleus mass (default 1)
  --seed S               sampler seed, an integer in 0..4294967295 (default 0)
  --capture LIST         routing,attention | routing | attention | none (default routing)
  --attention-top-k K    attended positions kept per head (default 8)
  --threads N            onnxruntime intra-op threads, at least 1 (default: all cores)
  --yarn exact|llamacpp  rope correction range (default exact)
  --experts mxfp4|int8|float  expert kernel (default mxfp4 when the native kernels load, else int8; int8 on webgpu)
  ${DEVICE_HELP}
  ${PRECISION_HELP}
  ${EXPERT_INPUTS_HELP}
  --json                 print one JSON document (format in README)`;

/** Parses "routing,attention" | "none" into capture flags. */
export function parseCaptureList(value: string, attentionTopK: number): CaptureOptions {
  const parts = value.split(',').map((p) => p.trim()).filter(Boolean);
  if (parts.length === 1 && parts[0] === 'none') return { routing: false, attention: false };
  const unknown = parts.filter((p) => p !== 'routing' && p !== 'attention');
  if (unknown.length > 0 || parts.length === 0) throw new Error(`--capture takes routing, attention (comma-separated) or none; got "${value}"`);
  return { routing: parts.includes('routing'), attention: parts.includes('attention'), attentionTopK };
}

/** Parses "1,2,3" into integers, naming the first bad entry. */
export function parseTokenIdList(value: string): number[] {
  return value.split(',').map((piece, index) => {
    const trimmed = piece.trim();
    if (!/^\d+$/.test(trimmed)) throw new Error(`--prompt-ids entry ${index} ("${piece}") is not a non-negative integer`);
    return Number(trimmed);
  });
}

const channelLabel: Record<string, string> = {
  analysis: 'analysis (raw chain of thought, not for end users)',
  commentary: 'commentary',
  final: 'final',
};

export function formatHuman(result: RunResult): string {
  const generated = result.messages.filter((m) => m.tokenEnd > result.promptLength);
  const lines = generated.map((m) => {
    const label = m.channel ? channelLabel[m.channel] ?? m.channel : 'no channel';
    const to = m.recipient ? ` to=${m.recipient}` : '';
    const cut = m.complete ? '' : ' [incomplete]';
    // Output that never reached <|message|> has no content: show its raw text instead of nothing.
    const text = m.content || `[raw] ${decode(result.tokens.slice(Math.max(m.tokenStart, result.promptLength), m.tokenEnd))}`;
    return `── ${m.role} · ${label}${to}${cut}\n${text}`;
  });
  const t = result.timings;
  lines.push(
    `── ${result.tokens.length - result.promptLength} tokens generated (${result.stopReason}); ` +
      `prefill ${result.promptLength} tokens at ${t.prefillTokensPerSecond.toFixed(1)} tokens/s, ` +
      `decode ${t.decodeTokensPerSecond.toFixed(1)} tokens/s`,
  );
  return lines.join('\n\n');
}

export async function runRunCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      model: { type: 'string', default: 'models/tiny' },
      prompt: { type: 'string' },
      'prompt-ids': { type: 'string' },
      effort: { type: 'string', default: 'medium' },
      system: { type: 'string' },
      developer: { type: 'string' },
      'max-new-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-p': { type: 'string' },
      seed: { type: 'string' },
      capture: { type: 'string', default: 'routing' },
      'attention-top-k': { type: 'string' },
      threads: { type: 'string' },
      yarn: { type: 'string', default: 'exact' },
      experts: { type: 'string' },
      device: { type: 'string' },
      precision: { type: 'string' },
      'expert-inputs': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if ((values.prompt === undefined) === (values['prompt-ids'] === undefined)) {
    console.error(`give exactly one of --prompt or --prompt-ids\n\n${HELP}`);
    return 2;
  }
  const effort = values.effort as ReasoningEffort;
  if (!['low', 'medium', 'high'].includes(effort)) throw new Error(`--effort must be low, medium or high (got "${values.effort}")`);
  if (values.yarn !== 'exact' && values.yarn !== 'llamacpp') throw new Error(`--yarn must be exact or llamacpp (got "${values.yarn}")`);
  const capture = parseCaptureList(values.capture!, attentionTopKOption(values['attention-top-k']));
  const sampling = {
    maxNewTokens: maxNewTokensOption(values['max-new-tokens']),
    temperature: numberOption(values.temperature, '--temperature', 1),
    topP: numberOption(values['top-p'], '--top-p', 1),
    seed: seedOption(values.seed),
  };
  const threads = threadsOption(values.threads);
  const promptIds =
    values['prompt-ids'] !== undefined
      ? parseTokenIdList(values['prompt-ids'])
      : renderPrompt({ user: values.prompt!, effort, system: values.system, developer: values.developer });

  const experts = values.experts;
  if (experts !== undefined && experts !== 'mxfp4' && experts !== 'int8' && experts !== 'float') throw new Error(`--experts must be mxfp4, int8 or float (got "${experts}")`);
  const device = deviceOption(values.device);
  const runtime = await loadRuntime(values.model!, { threads, yarn: values.yarn, experts, device, precision: precisionOption(values.precision), expertInputs: expertInputsOption(values['expert-inputs']) });
  const controller = new AbortController();
  const stopSignals = abortOnStopSignals(controller);
  try {
    const result = await runtime.generate({ promptIds, sampling, capture, signal: controller.signal });
    if (values.json) await writeJsonLine(process.stdout, streamableRunJson(result));
    else {
      if (runtime.generated) console.log(`model ${runtime.name}: a generated checkpoint with random weights (output is not language)\n`);
      console.log(`device: ${runtime.device}\n`);
      console.log(formatHuman(result));
    }
    const signal = stopSignals.received();
    return signal ? SIGNAL_EXIT_CODES[signal] : 0;
  } finally {
    stopSignals.dispose();
    await runtime.close();
  }
}
