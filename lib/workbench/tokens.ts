/** Token alignment: which message and channel each token belongs to, and the channel bands. */

export interface SpanMessage {
  channel: string | null;
  role: string;
  tokenStart: number;
  tokenEnd: number;
}

/** Message index per token; -1 for tokens outside every message. */
export function messageIndexPerToken(messages: SpanMessage[], numTokens: number): Int32Array {
  const owner = new Int32Array(numTokens).fill(-1);
  messages.forEach((message, index) => {
    owner.fill(index, Math.max(0, message.tokenStart), Math.min(numTokens, message.tokenEnd));
  });
  return owner;
}

export interface ChannelBand {
  start: number;
  end: number;
  /** The message channel, or the role for messages without one (system, developer, user). */
  label: string;
}

export function channelLabel(message: SpanMessage): string {
  return message.channel ?? message.role;
}

/** Contiguous bands of tokens sharing a channel label, merged across adjacent messages. */
export function channelBands(messages: SpanMessage[]): ChannelBand[] {
  const sorted = [...messages].sort((a, b) => a.tokenStart - b.tokenStart);
  const bands: ChannelBand[] = [];
  for (const message of sorted) {
    const label = channelLabel(message);
    const previous = bands[bands.length - 1];
    if (previous && previous.label === label && previous.end === message.tokenStart) previous.end = message.tokenEnd;
    else bands.push({ start: message.tokenStart, end: message.tokenEnd, label });
  }
  return bands;
}

/** Token indices of the messages on one channel, in order. */
export function tokensOfChannel(messages: SpanMessage[], channel: string): number[] {
  return messages
    .filter((message) => message.channel === channel)
    .flatMap((message) => Array.from({ length: message.tokenEnd - message.tokenStart }, (_, i) => message.tokenStart + i));
}

/** Next token index for a navigation key, or null when the key is not a navigation key. */
export function navigateToken(current: number, key: string, numTokens: number, pageSize = 32): number | null {
  const moves: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, PageDown: pageSize, PageUp: -pageSize };
  if (key === 'Home') return 0;
  if (key === 'End') return numTokens - 1;
  const move = moves[key];
  if (move === undefined) return null;
  return Math.min(numTokens - 1, Math.max(0, current + move));
}
