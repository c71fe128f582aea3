/**
 * Renders a conversation into harmony token ids (spec §5.2–5.6), following harmony's renderer:
 * each message is `<|start|>` header `<|message|>` content terminator, with nothing between
 * messages, and a completion prompt ends with the prefill `<|start|>assistant`.
 */
import { CALL, CHANNEL, CONSTRAIN, END, MESSAGE, START } from './special-tokens';
import { decode, encode } from './tokenizer';
import { functionToolsSection, type FunctionTool } from './tool-schema';

export type { FunctionTool, JsonSchema } from './tool-schema';

export type ReasoningEffort = 'low' | 'medium' | 'high';
export type HarmonyMessageRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool';

export interface SystemContent {
  /** Default: `You are ChatGPT, a large language model trained by OpenAI.` */
  modelIdentity?: string;
  /** Default: `2024-06`. */
  knowledgeCutoff?: string;
  /** `YYYY-MM-DD`; the line is left out when absent. */
  currentDate?: string;
  /** Default: medium. */
  reasoningEffort?: ReasoningEffort;
  /** Default: analysis, commentary, final. */
  validChannels?: readonly string[];
  /** Default: true (adds ` Channel must be included for every message.`). */
  channelRequired?: boolean;
}

export interface DeveloperContent {
  instructions?: string;
  functionTools?: readonly FunctionTool[];
}

/** One message. Optional fields accept null so that parsed messages can be rendered back. */
export interface HarmonyMessage {
  role: HarmonyMessageRole;
  /** For `tool`: the tool's full name (`functions.get_weather`), written in place of the role. Otherwise an optional author name (`role:name`). */
  name?: string | null;
  channel?: string | null;
  recipient?: string | null;
  /** The content type written after the channel, e.g. `json`. */
  contentType?: string | null;
  /** Whether the content type follows `<|constrain|>` (default) or is a plain word like `code`. */
  constrained?: boolean;
  content: string;
}

export interface Conversation {
  /** Rendered as the system message; defaults apply when omitted. `null` leaves the system message out. */
  system?: SystemContent | null;
  /** Rendered as the developer message when present. */
  developer?: DeveloperContent | null;
  messages: readonly HarmonyMessage[];
}

export interface RenderOptions {
  /** Append the prefill `<|start|>assistant` (default true). */
  forCompletion?: boolean;
  /**
   * Drop assistant `analysis` messages that come before the last assistant `final` message
   * (the cookbook rule, spec §5.6). Default true; false keeps every chain of thought.
   */
  dropAnalysis?: boolean;
}

export const DEFAULT_MODEL_IDENTITY = 'You are ChatGPT, a large language model trained by OpenAI.';
export const DEFAULT_KNOWLEDGE_CUTOFF = '2024-06';
export const DEFAULT_REASONING_EFFORT: ReasoningEffort = 'medium';
export const DEFAULT_VALID_CHANNELS: readonly string[] = ['analysis', 'commentary', 'final'];
const FUNCTION_CALLS_CHANNEL_LINE = "Calls to these tools must go to the commentary channel: 'functions'.";
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

/** An assistant call of a developer-defined function (`functions.NAME`) on the commentary channel. */
export function functionCall(functionName: string, argumentsJson: string): HarmonyMessage {
  return {
    role: 'assistant',
    channel: 'commentary',
    recipient: `functions.${functionName}`,
    contentType: 'json',
    content: argumentsJson,
  };
}

/** The result of a function call, addressed back to the assistant. */
export function functionResult(functionName: string, output: string): HarmonyMessage {
  return { role: 'tool', name: `functions.${functionName}`, recipient: 'assistant', channel: 'commentary', content: output };
}

export function systemMessageText(system: SystemContent, hasFunctionTools: boolean): string {
  if (system.currentDate !== undefined && !ISO_DATE.test(system.currentDate)) {
    throw new Error(`System content currentDate must be YYYY-MM-DD, got "${system.currentDate}"`);
  }
  const topLines = [
    system.modelIdentity ?? DEFAULT_MODEL_IDENTITY,
    `Knowledge cutoff: ${system.knowledgeCutoff ?? DEFAULT_KNOWLEDGE_CUTOFF}`,
    ...(system.currentDate !== undefined ? [`Current date: ${system.currentDate}`] : []),
  ];
  const sections = [topLines.join('\n'), `Reasoning: ${system.reasoningEffort ?? DEFAULT_REASONING_EFFORT}`];
  const validChannels = system.validChannels ?? DEFAULT_VALID_CHANNELS;
  if (validChannels.length > 0) {
    let channelsSection = `# Valid channels: ${validChannels.join(', ')}.`;
    if (system.channelRequired ?? true) channelsSection += ' Channel must be included for every message.';
    if (hasFunctionTools) channelsSection += `\n${FUNCTION_CALLS_CHANNEL_LINE}`;
    sections.push(channelsSection);
  }
  return sections.join('\n\n');
}

export function developerMessageText(developer: DeveloperContent): string {
  const sections: string[] = [];
  if (developer.instructions !== undefined) sections.push('# Instructions', developer.instructions);
  const tools = developer.functionTools ?? [];
  if (tools.length > 0) sections.push(functionToolsSection(tools));
  return sections.join('\n\n');
}

function plain(text: string): number[] {
  return encode(text, { allowSpecial: false });
}

function authorIds(message: HarmonyMessage, index: number): number[] {
  if (message.role === 'tool') {
    if (!message.name) throw new Error(`Message ${index} has role "tool" but no tool name (e.g. "functions.get_weather")`);
    return plain(message.name);
  }
  return message.name ? [...plain(message.role), ...plain(`:${message.name}`)] : plain(message.role);
}

/** Header order as spec §5.2: author, ` to=RECIPIENT`, `<|channel|>NAME`, ` <|constrain|>TYPE`. */
function headerIds(message: HarmonyMessage, index: number): number[] {
  const ids = authorIds(message, index);
  if (message.recipient && message.recipient !== 'all') ids.push(...plain(` to=${message.recipient}`));
  if (message.channel) ids.push(CHANNEL, ...plain(message.channel));
  if (message.contentType) {
    const constrained = message.constrained ?? true;
    ids.push(...plain(' '), ...(constrained ? [CONSTRAIN] : []), ...plain(message.contentType));
  }
  return ids;
}

function isToolCall(message: HarmonyMessage): boolean {
  return message.role === 'assistant' && Boolean(message.recipient);
}

/** One message; a final answer in history always ends with `<|end|>`, a tool call with `<|call|>`. */
export function renderMessage(message: HarmonyMessage, index = 0): number[] {
  const terminator = isToolCall(message) ? CALL : END;
  return [START, ...headerIds(message, index), MESSAGE, ...plain(message.content), terminator];
}

function isAssistantOn(channel: string, message: HarmonyMessage): boolean {
  return message.role === 'assistant' && message.channel === channel;
}

/** Cookbook rule: analysis before the last final answer belongs to finished turns and is dropped. */
export function withoutFinishedAnalysis(messages: readonly HarmonyMessage[]): HarmonyMessage[] {
  const lastFinalIndex = messages.findLastIndex((message) => isAssistantOn('final', message));
  return messages.filter((message, index) => !(index < lastFinalIndex && isAssistantOn('analysis', message)));
}

function conversationMessages(conversation: Conversation): HarmonyMessage[] {
  const functionTools = conversation.developer?.functionTools ?? [];
  const leading: HarmonyMessage[] = [];
  if (conversation.system !== null) {
    leading.push({ role: 'system', content: systemMessageText(conversation.system ?? {}, functionTools.length > 0) });
  }
  if (conversation.developer) {
    leading.push({ role: 'developer', content: developerMessageText(conversation.developer) });
  }
  return [...leading, ...conversation.messages];
}

/** Token ids of a conversation. A flat message list is rendered as given, with no system message added. */
export function renderConversation(
  conversation: Conversation | readonly HarmonyMessage[],
  options: RenderOptions = {},
): number[] {
  const allMessages = Array.isArray(conversation) ? [...conversation] : conversationMessages(conversation as Conversation);
  const kept = (options.dropAnalysis ?? true) ? withoutFinishedAnalysis(allMessages) : allMessages;
  const ids = kept.flatMap((message, index) => renderMessage(message, index));
  if (options.forCompletion ?? true) ids.push(START, ...plain('assistant'));
  return ids;
}

export function renderToString(conversation: Conversation | readonly HarmonyMessage[], options: RenderOptions = {}): string {
  return decode(renderConversation(conversation, options));
}
