/** Fixed colours of the channel bands (analysis / final / commentary / prompt roles). */
const CHANNEL_COLOURS: Record<string, string> = {
  analysis: '#c678dd',
  final: '#98c379',
  commentary: '#61afef',
  system: '#5c6370',
  developer: '#7f848e',
  user: '#e5c07b',
};

export function channelColor(label: string): string {
  return CHANNEL_COLOURS[label] ?? '#abb2bf';
}

export const CHANNEL_LEGEND = Object.entries(CHANNEL_COLOURS);
