'use client';
import { memo } from 'react';
import { useTokenFocus } from './useTokenFocus';

function tokenIndexOf(target: EventTarget | null): number | null {
  const element = (target as HTMLElement | null)?.closest?.('[data-t]');
  return element ? Number(element.getAttribute('data-t')) : null;
}

/**
 * Token-aligned text: one span per token carrying its index, so a single CSS rule highlights a
 * token everywhere. Events are delegated to the container; the spans never re-render on hover.
 */
export const TokenText = memo(function TokenText({ indices, texts, label }: { indices: number[]; texts: string[]; label: string }) {
  const focus = useTokenFocus();
  return (
    <div
      className="token-text"
      aria-label={label}
      onMouseOver={(event) => focus.hover(tokenIndexOf(event.target))}
      onMouseLeave={() => focus.hover(null)}
      onClick={(event) => {
        const token = tokenIndexOf(event.target);
        if (token !== null) focus.select(token);
      }}
    >
      {indices.map((index) => (
        <span key={index} className="tok" data-t={index}>
          {texts[index]}
        </span>
      ))}
    </div>
  );
});
