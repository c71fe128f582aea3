/**
 * The annotation keyboard: which key press does what. One table (SHORTCUTS) feeds the shortcut
 * overlay and the README; `annotationAction` maps a key press to an action. Digits are read from
 * `code`, not `key`, because alt+digit types other characters on some layouts.
 */

import { MAX_SEVERITY, VERDICT_VALUES, type VerdictValue } from '../review/vocabulary';

export type { VerdictValue };
export const VERDICTS = VERDICT_VALUES;
export type Severity = number;

export type AnnotationAction =
  | { type: 'move'; delta: number }
  | { type: 'extend'; delta: number }
  | { type: 'label'; index: number }
  | { type: 'severity'; severity: Severity }
  | { type: 'next-span' }
  | { type: 'previous-span' }
  | { type: 'delete-span' }
  | { type: 'edit-note' }
  | { type: 'help' }
  | { type: 'escape' }
  | { type: 'verdict'; verdict: VerdictValue };

export interface KeyPress {
  key: string;
  code: string;
  shiftKey: boolean;
  altKey: boolean;
  ctrlKey: boolean;
  metaKey: boolean;
}

/** Where the key was pressed: arrows select tokens only in the focused reasoning text. */
export interface KeyContext {
  inText: boolean;
}

export const SHORTCUTS: readonly { keys: string; does: string }[] = [
  { keys: '← / →', does: 'move the token cursor (in the focused raw reasoning)' },
  { keys: 'shift + ← / →', does: 'extend the selection (also: drag, or shift + click)' },
  { keys: '1 … 9', does: 'label the selection (or the selected span) with that taxonomy label' },
  { keys: 'alt + 1 … 4', does: 'severity of the selected span (or of the next new span)' },
  { keys: 'n / p', does: 'next / previous span' },
  { keys: 'e', does: "edit the selected span's note (enter saves, esc cancels)" },
  { keys: 'delete / backspace', does: 'delete the selected span' },
  { keys: 'shift + S / U / N', does: 'trace verdict: safe / unsafe / not sure' },
  { keys: '?', does: 'show or hide these shortcuts' },
  { keys: 'esc', does: 'close the overlay, clear the selection' },
];

const DIGIT = /^(?:Digit|Numpad)([0-9])$/;
const VERDICT_KEYS: Record<string, VerdictValue> = { s: 'safe', u: 'unsafe', n: 'unsure' };

function digitOf(press: KeyPress): number | null {
  const match = DIGIT.exec(press.code);
  if (match) return Number(match[1]);
  return /^[0-9]$/.test(press.key) ? Number(press.key) : null;
}

/** The action a key press asks for, or null when it is not an annotation shortcut. */
export function annotationAction(press: KeyPress, context: KeyContext): AnnotationAction | null {
  if (press.ctrlKey || press.metaKey) return null;
  if (press.key === 'Escape') return { type: 'escape' };
  if (press.key === '?') return { type: 'help' };
  if (press.key === 'ArrowRight' || press.key === 'ArrowLeft') {
    if (!context.inText || press.altKey) return null;
    const delta = press.key === 'ArrowRight' ? 1 : -1;
    return press.shiftKey ? { type: 'extend', delta } : { type: 'move', delta };
  }
  const digit = digitOf(press);
  if (digit !== null && !press.shiftKey) {
    if (press.altKey) return digit >= 1 && digit <= MAX_SEVERITY ? { type: 'severity', severity: digit } : null;
    return digit >= 1 ? { type: 'label', index: digit - 1 } : null;
  }
  if (press.altKey) return null;
  const letter = press.key.length === 1 ? press.key.toLowerCase() : '';
  if (press.shiftKey) return letter in VERDICT_KEYS ? { type: 'verdict', verdict: VERDICT_KEYS[letter] } : null;
  if (letter === 'n') return { type: 'next-span' };
  if (letter === 'p') return { type: 'previous-span' };
  if (letter === 'e') return { type: 'edit-note' };
  if (press.key === 'Delete' || press.key === 'Backspace') return { type: 'delete-span' };
  return null;
}

/** Keys typed into a form field belong to the field. */
export function isTypingTarget(target: { tagName?: string; isContentEditable?: boolean } | null): boolean {
  if (!target) return false;
  return target.isContentEditable === true || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName ?? '');
}
