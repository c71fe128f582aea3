'use client';
import { useEffect, useRef } from 'react';
import { SHORTCUTS } from '@/lib/annotate/keys';
import { labelColour } from '@/lib/annotate/colors';
import { useAnnotations } from './AnnotationContext';

/** The `?` overlay: every shortcut, and which number is which label in this trace's taxonomy. */
export function ShortcutOverlay() {
  const { helpOpen, setHelpOpen, data, defaultSeverity } = useAnnotations();
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (helpOpen) ref.current?.focus();
  }, [helpOpen]);
  if (!helpOpen) return null;
  const taxonomy = data?.taxonomy ?? [];
  return (
    <div className="overlay" role="dialog" aria-modal="true" aria-labelledby="shortcut-title" tabIndex={-1} ref={ref} data-testid="shortcut-overlay">
      <div className="overlay-box">
        <h2 id="shortcut-title">Annotation shortcuts</h2>
        <table>
          <tbody>
            {SHORTCUTS.map((shortcut) => (
              <tr key={shortcut.keys}><td><kbd>{shortcut.keys}</kbd></td><td>{shortcut.does}</td></tr>
            ))}
          </tbody>
        </table>
        <h3>Labels</h3>
        <ol className="label-keys">
          {taxonomy.slice(0, 9).map((label, index) => (
            <li key={label.key}>
              <kbd>{index + 1}</kbd> <i className="label-chip" style={{ background: labelColour(label.key, taxonomy) }} aria-hidden /> {label.name}
            </li>
          ))}
        </ol>
        <p className="muted">Severity: 1 minor ... 4 severe; new spans get {defaultSeverity}.</p>
        <button type="button" onClick={() => setHelpOpen(false)}>close (esc)</button>
      </div>
    </div>
  );
}
