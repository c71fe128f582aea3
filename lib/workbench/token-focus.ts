/**
 * The hovered and selected token of a trace view, outside React state: hovering must not
 * re-render thousands of token spans. Components subscribe (useSyncExternalStore) to what they show.
 */
export interface TokenFocusState {
  hovered: number | null;
  selected: number | null;
  /** Token range chosen in the heatmap (shift + drag), end exclusive. */
  range: { start: number; end: number } | null;
  /** The annotation span whose tokens `range` holds (clicked in the span list or on its band), if any. */
  spanId: string | null;
}

export class TokenFocus {
  private state: TokenFocusState = { hovered: null, selected: null, range: null, spanId: null };
  private readonly listeners = new Set<() => void>();

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly snapshot = (): TokenFocusState => this.state;

  hover(token: number | null): void {
    if (token !== this.state.hovered) this.update({ hovered: token });
  }

  select(token: number | null): void {
    if (token !== this.state.selected) this.update({ selected: token });
  }

  selectRange(range: { start: number; end: number } | null): void {
    this.update({ range, spanId: null });
  }

  /** Selects an annotation span's tokens everywhere at once: its range, its first token, and which span it is. */
  selectSpan(span: { id: string; tokenStart: number; tokenEnd: number } | null): void {
    if (!span) this.update({ spanId: null, range: null });
    else this.update({ spanId: span.id, range: { start: span.tokenStart, end: span.tokenEnd }, selected: span.tokenStart });
  }

  private update(change: Partial<TokenFocusState>): void {
    this.state = { ...this.state, ...change };
    for (const listener of this.listeners) listener();
  }
}
