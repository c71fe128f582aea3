'use client';
import { useCallback, useEffect, useState } from 'react';
import { useRouter } from 'next/navigation';
import type { Agreement, CollectionSummary, QueueProgress } from '@/lib/annotate/contracts';
import { parseTaxonomyText, taxonomyToText } from '@/lib/annotate/taxonomy-text';
import { labelColour, labelName } from '@/lib/annotate/colors';
import { collectionsApi } from '@/app/_annotations/api';
import { openNextInQueue } from '@/app/_annotations/QueueBar';
import { ExportButton } from '@/app/_traces/ExportButton';

const statistic = (value: number | null) => (value === null ? 'n/a' : value.toFixed(3));

function QueueSection({ name, me, canAnnotate, progress, onProgress }: { name: string; me: string; canAnnotate: boolean; progress: QueueProgress | null; onProgress: (progress: QueueProgress) => void }) {
  const router = useRouter();
  const [message, setMessage] = useState<string | null>(null);
  const next = async () => {
    try {
      const result = await openNextInQueue(name, router);
      onProgress(result.progress);
      if (!result.opened) setMessage('Nothing left for you in this queue.');
    } catch (reason) {
      setMessage((reason as Error).message);
    }
  };
  return (
    <section aria-label="Review queue" data-testid="queue">
      <h2>Review queue</h2>
      {canAnnotate ? <button type="button" data-testid="queue-next" onClick={() => void next()}>next trace for me</button> : <p className="muted">Reviewing needs the annotator role.</p>}
      {message ? <p className="notice" role="status">{message}</p> : null}
      {progress ? (
        <table data-testid="queue-progress-table">
          <caption className="muted">{progress.total} trace{progress.total === 1 ? '' : 's'} in the queue</caption>
          <thead><tr><th>annotator</th><th>done</th><th>of</th><th>skipped</th><th>in hand</th></tr></thead>
          <tbody>
            {progress.perAnnotator.map((entry) => (
              <tr key={entry.annotator} data-annotator={entry.annotator} className={entry.annotator === me ? 'me' : undefined}>
                <td>{entry.annotator}</td><td>{entry.done}</td><td>{progress.total}</td><td>{entry.skipped}</td><td>{entry.assigned}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

function SettingsSection({ settings, canConfigure, onSaved }: { settings: CollectionSummary; canConfigure: boolean; onSaved: (settings: CollectionSummary) => void }) {
  const [overlap, setOverlap] = useState(settings.overlap);
  const [blind, setBlind] = useState(settings.blind);
  const [taxonomyText, setTaxonomyText] = useState(taxonomyToText(settings.taxonomy));
  const [message, setMessage] = useState<string | null>(null);
  const save = async () => {
    const parsed = parseTaxonomyText(taxonomyText);
    if ('error' in parsed) return setMessage(parsed.error);
    try {
      const { collection } = await collectionsApi.update(settings.name, { overlap, blind, taxonomy: parsed.taxonomy });
      onSaved(collection);
      setMessage('saved');
    } catch (reason) {
      setMessage((reason as Error).message);
    }
  };
  return (
    <section aria-label="Review settings" data-testid="collection-settings">
      <h2>Settings</h2>
      <form className="collection-settings" onSubmit={(event) => { event.preventDefault(); void save(); }}>
        <label className="rationale">
          overlap (annotators per trace)
          <input type="number" name="overlap" min={1} max={20} value={overlap} disabled={!canConfigure} onChange={(event) => setOverlap(Number(event.target.value))} />
        </label>
        <label>
          <input type="checkbox" name="blind" checked={blind} disabled={!canConfigure} onChange={(event) => setBlind(event.target.checked)} /> blind review (others&apos; labels hidden until one submits)
        </label>
        {canConfigure ? (
          <label className="rationale">
            taxonomy (one label a line: key | name | description)
            <textarea name="taxonomy" rows={Math.max(4, settings.taxonomy.length + 1)} cols={70} value={taxonomyText} onChange={(event) => setTaxonomyText(event.target.value)} />
          </label>
        ) : null}
        {canConfigure ? <button type="submit">save settings</button> : <span className="muted">Changing these needs the researcher role.</span>}
        {message ? <span role="status" className={message === 'saved' ? 'muted' : 'error'}>{message}</span> : null}
      </form>
      <h3>Labels <small>(number keys in the trace view)</small></h3>
      <ol className="label-keys" data-testid="collection-taxonomy">
        {settings.taxonomy.map((label) => (
          <li key={label.key} title={label.description}>
            <i className="label-chip" style={{ background: labelColour(label.key, settings.taxonomy) }} aria-hidden /> {label.name} <small>{label.key}{label.description ? ` · ${label.description}` : ''}</small>
          </li>
        ))}
      </ol>
    </section>
  );
}

function AgreementSection({ agreement, taxonomy, onRefresh }: { agreement: Agreement | null; taxonomy: CollectionSummary['taxonomy']; onRefresh: () => void }) {
  return (
    <section aria-label="Agreement" data-testid="agreement">
      <h2>
        Agreement <button type="button" className="link" onClick={onRefresh}>refresh</button>
      </h2>
      <p className="muted">
        Agreement beyond chance (1 perfect, 0 chance level, below 0 systematic disagreement): kappa on trace verdicts per annotator pair, alpha on span labels token by token (unlabelled tokens count as &quot;none&quot;).
      </p>
      {agreement === null ? (
        <p className="muted">loading...</p>
      ) : (
        <div className="split">
          <div>
            <h3>Verdicts: Cohen&apos;s kappa per pair</h3>
            {agreement.verdicts.pairs.length === 0 ? (
              <p className="muted" data-testid="kappa-empty">No two annotators have judged the same trace yet.</p>
            ) : (
              <table className="agreement-table" data-testid="kappa-table">
                <thead><tr><th>annotators</th><th>kappa</th><th>traces</th></tr></thead>
                <tbody>
                  {agreement.verdicts.pairs.map((pair) => (
                    <tr key={`${pair.a}|${pair.b}`} data-pair={`${pair.a}|${pair.b}`}>
                      <td>{pair.a} · {pair.b}</td><td data-testid="kappa">{statistic(pair.kappa)}</td><td data-testid="kappa-items">{pair.items}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </div>
          <div>
            <h3>Spans: Krippendorff&apos;s alpha</h3>
            <table className="agreement-table" data-testid="alpha-table">
              <thead><tr><th>label</th><th>alpha</th><th>tokens</th></tr></thead>
              <tbody>
                <tr data-label="all">
                  <td><b>all labels</b></td><td data-testid="alpha">{statistic(agreement.spans.alpha)}</td><td data-testid="alpha-units">{agreement.spans.units}</td>
                </tr>
                {agreement.spans.perLabel.map((entry) => (
                  <tr key={entry.label} data-label={entry.label}>
                    <td><i className="label-chip" style={{ background: labelColour(entry.label, taxonomy) }} aria-hidden />{labelName(entry.label, taxonomy)}</td>
                    <td>{statistic(entry.alpha)}</td><td>{entry.units}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <p className="muted">
              {agreement.spans.annotators.length} annotators ({agreement.spans.annotators.join(', ')});
              per label: that label against everything else. JSON: <a href={`/api/collections/${encodeURIComponent(agreement.collection)}/agreement`}>agreement</a>
            </p>
          </div>
        </div>
      )}
    </section>
  );
}

export function CollectionView({ name, me, canAnnotate, canConfigure }: { name: string; me: string; canAnnotate: boolean; canConfigure: boolean }) {
  const [settings, setSettings] = useState<CollectionSummary | null>(null);
  const [progress, setProgress] = useState<QueueProgress | null>(null);
  const [agreement, setAgreement] = useState<Agreement | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => {
    const failed = (reason: Error) => setError(reason.message);
    collectionsApi.get(name).then(({ collection }) => setSettings(collection), failed);
    collectionsApi.progress(name).then(({ progress }) => setProgress(progress), failed);
    collectionsApi.agreement(name).then(setAgreement, failed);
  }, [name]);
  useEffect(load, [load]);
  return (
    <>
      {error ? <p className="error" role="alert">{error}</p> : null}
      <p><ExportButton filters={{ collection: name }} /></p>
      <QueueSection name={name} me={me} canAnnotate={canAnnotate} progress={progress} onProgress={setProgress} />
      <AgreementSection agreement={agreement} taxonomy={settings?.taxonomy ?? []} onRefresh={load} />
      {settings ? <SettingsSection key={settings.name} settings={settings} canConfigure={canConfigure} onSaved={setSettings} /> : null}
    </>
  );
}
