/**
 * Raw chain of thought -> filtered reasoning, the text a viewer may read. The review work will
 * provide real filters (policy redaction, summary); until then `placeholderFilter` stands in and
 * says so plainly. A filter's output never contains raw analysis text it was not designed to keep.
 */
import type { TraceMessage } from '../trace/types';
import { isRawReasoningChannel } from '../auth/roles';

export interface FilteredReasoning {
  /** Name of the filter that produced the text. */
  filter: string;
  /** True while no real filter exists: the UI labels the column as a placeholder. */
  placeholder: boolean;
  text: string;
}

export interface ReasoningFilter {
  readonly name: string;
  filter(messages: TraceMessage[]): FilteredReasoning;
}

export const placeholderFilter: ReasoningFilter = {
  name: 'placeholder',
  filter(messages) {
    const reasoning = messages.filter((message) => isRawReasoningChannel(message.channel));
    const tokenCount = reasoning.reduce((sum, message) => sum + (message.tokenEnd - message.tokenStart), 0);
    const text =
      reasoning.length === 0
        ? 'Placeholder filter: this trace has no analysis-channel reasoning.'
        : `Placeholder filter: no reasoning filter is configured yet. The raw reasoning has ${reasoning.length} ` +
          `analysis message(s), ${tokenCount} tokens; a real filter (lib/review) will show its filtered text here.`;
    return { filter: 'placeholder', placeholder: true, text };
  },
};

/** The filter the workbench uses; the review work swaps in its implementation here. */
export function activeReasoningFilter(): ReasoningFilter {
  return placeholderFilter;
}
