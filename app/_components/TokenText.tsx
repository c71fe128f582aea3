'use client';
import { memo, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { chunkOfToken, chunkText, chunkTokens } from '@/lib/workbench/token-chunks';
import { useTokenFocus } from './useTokenFocus';

function tokenIndexOf(target: EventTarget | null): number | null {
  const element = (target as HTMLElement | null)?.closest?.('[data-t]');
  return element ? Number(element.getAttribute('data-t')) : null;
}

/** The nearest ancestor that scrolls (the panel's box), or null for the page viewport. */
function scrollParent(element: HTMLElement): HTMLElement | null {
  for (let parent = element.parentElement; parent; parent = parent.parentElement) {
    if (/(auto|scroll)/.test(getComputedStyle(parent).overflowY)) return parent;
  }
  return null;
}

/** Scrolls the token's span into view; false when its chunk is not materialised yet. */
function revealTokenSpan(container: HTMLElement, token: number): boolean {
  const span = container.querySelector(`.tok[data-t="${token}"]`);
  span?.scrollIntoView({ block: 'nearest' });
  return span !== null;
}

/** One chunk: plain text until `live`, then one span per token carrying its index. */
const TokenChunk = memo(function TokenChunk({ position, tokens, texts, live }: { position: number; tokens: number[]; texts: string[]; live: boolean }) {
  return (
    <span data-chunk={position}>
      {live
        ? tokens.map((token) => (
            <span key={token} className="tok" data-t={token}>
              {texts[token]}
            </span>
          ))
        : chunkText(tokens, texts)}
    </span>
  );
});

/**
 * Token-aligned text. Chunks near the visible part of the panel become one span per token (so a
 * single CSS rule highlights a token everywhere); the rest stay single text nodes. Events are
 * delegated to the container; the spans never re-render on hover.
 */
export const TokenText = memo(function TokenText({ indices, texts, label }: { indices: number[]; texts: string[]; label: string }) {
  const focus = useTokenFocus();
  const containerRef = useRef<HTMLDivElement>(null);
  const chunks = useMemo(() => chunkTokens(indices), [indices]);
  const owners = useMemo(() => chunkOfToken(chunks), [chunks]);
  // The first chunk is at the top of its panel, so it is materialised from the server render on.
  const [live, setLive] = useState<ReadonlySet<number>>(() => new Set([0]));
  const pendingReveal = useRef<number | null>(null);

  const materialise = useCallback((positions: number[]) => {
    setLive((current) => (positions.every((position) => current.has(position)) ? current : new Set([...current, ...positions])));
  }, []);

  useEffect(() => {
    const container = containerRef.current;
    if (!container) return;
    const observer = new IntersectionObserver(
      (entries) => materialise(entries.filter((entry) => entry.isIntersecting).map((entry) => Number((entry.target as HTMLElement).dataset.chunk))),
      { root: scrollParent(container), rootMargin: '100px 0px' },
    );
    container.querySelectorAll('[data-chunk]').forEach((chunk) => observer.observe(chunk));
    return () => observer.disconnect();
  }, [chunks, materialise]);

  // The selected token (from any panel, the heatmap or the keyboard) is scrolled into view here.
  useEffect(
    () =>
      focus.subscribe(() => {
        const { selected } = focus.snapshot();
        const chunk = selected === null ? undefined : owners.get(selected);
        const container = containerRef.current;
        if (selected === null || chunk === undefined || !container || revealTokenSpan(container, selected)) return;
        pendingReveal.current = selected;
        materialise([chunk]);
      }),
    [focus, owners, materialise],
  );
  useEffect(() => {
    const container = containerRef.current;
    if (pendingReveal.current !== null && container && revealTokenSpan(container, pendingReveal.current)) pendingReveal.current = null;
  }, [live]);

  return (
    <div
      ref={containerRef}
      className="token-text"
      aria-label={label}
      onMouseOver={(event) => focus.hover(tokenIndexOf(event.target))}
      onMouseLeave={() => focus.hover(null)}
      onClick={(event) => {
        const token = tokenIndexOf(event.target);
        if (token !== null) focus.select(token);
      }}
    >
      {chunks.map((tokens, position) => (
        <TokenChunk key={position} position={position} tokens={tokens} texts={texts} live={live.has(position)} />
      ))}
    </div>
  );
});
