'use client';
import { useFocusState } from './useTokenFocus';

/** One CSS rule highlights the hovered and selected token in every text panel at O(1) cost. */
export function TokenHighlight() {
  const hovered = useFocusState((state) => state.hovered);
  const selected = useFocusState((state) => state.selected);
  const rules = [
    hovered !== null ? `.tok[data-t="${hovered}"]{background:var(--hover);outline:1px solid var(--accent)}` : '',
    selected !== null ? `.tok[data-t="${selected}"]{background:var(--selected);color:#000}` : '',
  ].join('');
  return <style>{rules}</style>;
}
