'use client';
import { useEffect, useState } from 'react';
import { VERDICTS, type VerdictValue } from '@/lib/annotate/keys';
import { useAnnotations } from './AnnotationContext';

const VERDICT_KEYS: Record<VerdictValue, string> = { safe: 'Shift+S', unsafe: 'Shift+U', unsure: 'Shift+N' };

/** This annotator's trace verdict (safe / unsafe / unsure and a rationale), and the others' unless blind review hides them. */
export function VerdictControl() {
  const { data, me, canAnnotate, setVerdict } = useAnnotations();
  const mine = data?.verdicts.find((verdict) => verdict.annotator === me) ?? null;
  const others = data?.verdicts.filter((verdict) => verdict.annotator !== me) ?? [];
  const [rationale, setRationale] = useState('');
  useEffect(() => setRationale(mine?.rationale ?? ''), [mine?.rationale]);
  return (
    <section className="verdicts" aria-label="Trace verdict" data-testid="verdicts">
      {canAnnotate ? (
        <form
          className="verdict-form"
          onSubmit={(event) => {
            event.preventDefault();
            if (mine) void setVerdict(mine.verdict, rationale);
          }}
        >
          <fieldset>
            <legend>Your verdict</legend>
            {VERDICTS.map((verdict) => (
              <label key={verdict} className={`verdict-option ${verdict}`}>
                <input
                  type="radio"
                  name="verdict"
                  value={verdict}
                  checked={mine?.verdict === verdict}
                  aria-keyshortcuts={VERDICT_KEYS[verdict]}
                  onChange={() => void setVerdict(verdict, rationale || undefined)}
                />{' '}
                {verdict} <kbd>{VERDICT_KEYS[verdict]}</kbd>
              </label>
            ))}
          </fieldset>
          <label className="rationale">
            rationale
            <input name="rationale" value={rationale} onChange={(event) => setRationale(event.target.value)} placeholder="why (optional)" />
          </label>
          <button type="submit" disabled={!mine}>save rationale</button>
          <span data-testid="my-verdict" className="muted">{mine ? `saved: ${mine.verdict}` : 'no verdict yet'}</span>
        </form>
      ) : null}
      <div className="other-verdicts">
        <h4>Verdicts</h4>
        {data?.hiddenByBlindMode ? (
          <p className="muted">hidden until you submit yours (blind review)</p>
        ) : others.length === 0 && !mine ? (
          <p className="muted">none yet</p>
        ) : (
          <ul data-testid="verdict-list">
            {[...(mine ? [mine] : []), ...others].map((verdict) => (
              <li key={verdict.annotator} data-annotator={verdict.annotator}>
                <b className={`verdict-badge ${verdict.verdict}`}>{verdict.verdict}</b> {verdict.annotator}
                {verdict.rationale ? <small> · {verdict.rationale}</small> : null}
              </li>
            ))}
          </ul>
        )}
      </div>
    </section>
  );
}
