/**
 * Raw chain of thought -> filtered reasoning, the text a viewer may read. The review work will
 * provide real filters (policy redaction, summary); until then `placeholderFilter` stands in and
 * says so plainly. A filter's output never contains raw analysis text it was not designed to keep.
 */
import type { TraceMessage } from '../trace/types';

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
    // Says nothing about the reasoning itself: not whether there is any, nor how long it is.
    void messages;
    const text = 'Placeholder filter: no reasoning filter is configured yet; a real filter (lib/review) will show its filtered text here.';
    return { filter: 'placeholder', placeholder: true, text };
  },
};

/** The filter the workbench uses; the review work swaps in its implementation here. */
export function activeReasoningFilter(): ReasoningFilter {
  return placeholderFilter;
}
