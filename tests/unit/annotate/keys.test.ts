import { test } from 'node:test';
import assert from 'node:assert/strict';
import { annotationAction, isTypingTarget, SHORTCUTS, type KeyPress } from '../../../lib/annotate/keys';

const press = (key: string, extra: Partial<KeyPress> = {}): KeyPress => ({
  key, code: /^[0-9]$/.test(key) ? `Digit${key}` : `Key${key.toUpperCase()}`, shiftKey: false, altKey: false, ctrlKey: false, metaKey: false, ...extra,
});
const inText = { inText: true };
const elsewhere = { inText: false };

test('number keys 1-9 pick the taxonomy label at that position; 0 does nothing', () => {
  assert.deepEqual(annotationAction(press('1'), elsewhere), { type: 'label', index: 0 });
  assert.deepEqual(annotationAction(press('9'), inText), { type: 'label', index: 8 });
  assert.equal(annotationAction(press('0'), inText), null);
});

test('alt + 1-4 sets severity, read from the key code since alt changes the typed character', () => {
  assert.deepEqual(annotationAction(press('¡', { code: 'Digit1', altKey: true }), inText), { type: 'severity', severity: 1 });
  assert.deepEqual(annotationAction(press('4', { altKey: true }), inText), { type: 'severity', severity: 4 });
  assert.equal(annotationAction(press('5', { altKey: true }), inText), null);
});

test('arrows move or extend the selection only inside the focused reasoning text', () => {
  assert.deepEqual(annotationAction(press('ArrowRight', { code: 'ArrowRight' }), inText), { type: 'move', delta: 1 });
  assert.deepEqual(annotationAction(press('ArrowLeft', { code: 'ArrowLeft', shiftKey: true }), inText), { type: 'extend', delta: -1 });
  assert.equal(annotationAction(press('ArrowRight', { code: 'ArrowRight', shiftKey: true }), elsewhere), null);
});

test('n / p / e / delete / ? / esc map to span navigation, note, deletion, help and escape', () => {
  assert.deepEqual(annotationAction(press('n'), elsewhere), { type: 'next-span' });
  assert.deepEqual(annotationAction(press('p'), elsewhere), { type: 'previous-span' });
  assert.deepEqual(annotationAction(press('e'), elsewhere), { type: 'edit-note' });
  assert.deepEqual(annotationAction(press('Delete', { code: 'Delete' }), elsewhere), { type: 'delete-span' });
  assert.deepEqual(annotationAction(press('Backspace', { code: 'Backspace' }), elsewhere), { type: 'delete-span' });
  assert.deepEqual(annotationAction(press('?', { code: 'Slash', shiftKey: true }), elsewhere), { type: 'help' });
  assert.deepEqual(annotationAction(press('Escape', { code: 'Escape' }), elsewhere), { type: 'escape' });
});

test('shift + S / U / N set the trace verdict', () => {
  assert.deepEqual(annotationAction(press('S', { shiftKey: true }), elsewhere), { type: 'verdict', verdict: 'safe' });
  assert.deepEqual(annotationAction(press('U', { shiftKey: true }), elsewhere), { type: 'verdict', verdict: 'unsafe' });
  assert.deepEqual(annotationAction(press('N', { shiftKey: true }), elsewhere), { type: 'verdict', verdict: 'unsure' });
});

test('browser shortcuts (ctrl / meta) and other keys are left alone', () => {
  assert.equal(annotationAction(press('1', { ctrlKey: true }), inText), null);
  assert.equal(annotationAction(press('n', { metaKey: true }), inText), null);
  assert.equal(annotationAction(press('x'), inText), null);
  assert.equal(annotationAction(press('!', { code: 'Digit1', shiftKey: true }), inText), null);
});

test('keys typed into form fields belong to the field', () => {
  assert.equal(isTypingTarget({ tagName: 'TEXTAREA' }), true);
  assert.equal(isTypingTarget({ tagName: 'DIV', isContentEditable: true }), true);
  assert.equal(isTypingTarget({ tagName: 'DIV' }), false);
  assert.equal(isTypingTarget(null), false);
});

test('every action has a line in the shortcut table', () => {
  const table = SHORTCUTS.map((shortcut) => shortcut.keys).join(' ');
  for (const keys of ['1 … 9', 'alt + 1 … 4', 'n / p', 'shift + S / U / N', '?', 'esc', 'delete']) assert.ok(table.includes(keys), keys);
});
