/**
 * The hovered and selected token of a trace view, outside React state: hovering must not
 * re-render thousands of token spans. Components subscribe (useSyncExternalStore) to what they show.
 */
export interface TokenFocusState {
  hovered: number | null;
  selected: number | null;
  /** Token range chosen in the heatmap (shift + drag), end exclusive. */
  range: { start: number; end: number } | null;
}

export class TokenFocus {
  private state: TokenFocusState = { hovered: null, selected: null, range: null };
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
    this.update({ range });
  }

  private update(change: Partial<TokenFocusState>): void {
    this.state = { ...this.state, ...change };
    for (const listener of this.listeners) listener();
  }
}
