/**
 * Heatmap viewport arithmetic: which tokens are visible, pan and zoom around an anchor, and the
 * mapping between pixels and token indices. Tokens run along x, layers along y.
 */

export interface Viewport {
  /** First visible token (fractional while panning). */
  start: number;
  /** Number of tokens across the canvas width (fractional while zooming). */
  span: number;
}

/** Never zoom in further than this many tokens across the canvas. */
export const MIN_SPAN = 8;

export function fullViewport(numTokens: number): Viewport {
  return { start: 0, span: Math.max(1, numTokens) };
}

export function clampViewport(view: Viewport, numTokens: number): Viewport {
  const total = Math.max(1, numTokens);
  const span = Math.min(total, Math.max(Math.min(MIN_SPAN, total), view.span));
  const start = Math.min(total - span, Math.max(0, view.start));
  return { start, span };
}

/** Zooms by `factor` (>1 zooms in) keeping the token under `anchor` (0..1 of the width) fixed. */
export function zoomAt(view: Viewport, factor: number, anchor: number, numTokens: number): Viewport {
  const anchorToken = view.start + anchor * view.span;
  const span = view.span / factor;
  return clampViewport({ start: anchorToken - anchor * span, span }, numTokens);
}

export function panByPixels(view: Viewport, deltaPixels: number, widthPixels: number, numTokens: number): Viewport {
  const tokensPerPixel = view.span / widthPixels;
  return clampViewport({ start: view.start - deltaPixels * tokensPerPixel, span: view.span }, numTokens);
}

export function tokenAtX(view: Viewport, x: number, widthPixels: number, numTokens: number): number {
  const token = Math.floor(view.start + (x / widthPixels) * view.span);
  return Math.min(numTokens - 1, Math.max(0, token));
}

export function xOfToken(view: Viewport, token: number, widthPixels: number): number {
  return ((token - view.start) / view.span) * widthPixels;
}

export function layerAtY(y: number, heightPixels: number, numLayers: number): number {
  return Math.min(numLayers - 1, Math.max(0, Math.floor((y / heightPixels) * numLayers)));
}

/** Moves the viewport the least so that `token` is visible (keyboard navigation). */
export function revealToken(view: Viewport, token: number, numTokens: number): Viewport {
  if (token < view.start) return clampViewport({ ...view, start: token }, numTokens);
  if (token + 1 > view.start + view.span) return clampViewport({ ...view, start: token + 1 - view.span }, numTokens);
  return view;
}
