'use client';
import { useState } from 'react';
import Link from 'next/link';
import type { TraceRow } from '@/lib/workbench/contracts';
import { curationApi } from '@/app/_annotations/api';

export type CurationTarget = Pick<TraceRow, 'id' | 'tags' | 'collections'>;

const listOf = (text: string) => [...new Set(text.split(',').map((part) => part.trim()).filter(Boolean))];

/** A request from a button or form: its failure message is kept for display; `then` runs on success. */
function useRequest() {
  const [error, setError] = useState<string | null>(null);
  const run = async (request: () => Promise<unknown>, then: () => void) => {
    try {
      await request();
      setError(null);
      then();
    } catch (reason) {
      setError((reason as Error).message);
    }
  };
  return { error, run };
}

/** Edit and delete buttons of one row (researchers); they do not open the trace. */
export function RowActions({ row, onEdit, onDeleted }: { row: CurationTarget; onEdit: (row: CurationTarget) => void; onDeleted: (id: string) => void }) {
  const { error, run } = useRequest();
  return (
    <span className="row-actions" onClick={(event) => event.stopPropagation()} onKeyDown={(event) => event.stopPropagation()}>
      <button type="button" className="link" aria-label={`edit tags and collections of trace ${row.id}`} onClick={() => onEdit(row)}>edit</button>
      <button
        type="button"
        className="link"
        aria-label={`delete trace ${row.id}`}
        onClick={() => void run(() => curationApi.remove(row.id), () => onDeleted(row.id))}
      >
        delete
      </button>
      {error ? <span className="error">{error}</span> : null}
    </span>
  );
}

/** Tags and collections of one trace, as comma-separated lists; moving a trace is changing its collections. */
export function CurationEditor({ target, onDone }: { target: CurationTarget; onDone: () => void }) {
  const [tags, setTags] = useState(target.tags.join(', '));
  const [collections, setCollections] = useState(target.collections.join(', '));
  const { error, run } = useRequest();
  return (
    <form
      className="filters curation"
      data-testid="curation-editor"
      aria-label={`curate trace ${target.id}`}
      onSubmit={(event) => {
        event.preventDefault();
        void run(() => curationApi.update(target.id, { tags: listOf(tags), collections: listOf(collections) }), onDone);
      }}
    >
      <span>trace <code>{target.id.slice(0, 8)}</code></span>
      <label>tags (comma-separated)<input name="tags" value={tags} onChange={(event) => setTags(event.target.value)} /></label>
      <label>collections (comma-separated; edit to move)<input name="collections" value={collections} onChange={(event) => setCollections(event.target.value)} /></label>
      <button type="submit">save</button>
      <button type="button" onClick={onDone}>cancel</button>
      {error ? <span className="error" role="alert">{error}</span> : null}
    </form>
  );
}

/** Traces deleted from this table: soft deleted, so they can be restored until the retention period ends. */
export function CurationNotice({ deleted, onRestored }: { deleted: string[]; onRestored: (id: string) => void }) {
  const { error, run } = useRequest();
  return (
    <p className="notice" role="status" data-testid="deleted-notice">
      Deleted (kept until the retention period ends; all deleted traces: <Link href="/traces/deleted">deleted traces</Link>):{' '}
      {deleted.map((id) => (
        <span key={id}>
          <code>{id.slice(0, 8)}</code>{' '}
          <button type="button" className="link" onClick={() => void run(() => curationApi.restore(id), () => onRestored(id))}>restore</button>{' '}
        </span>
      ))}
      {error ? <span className="error">{error}</span> : null}
    </p>
  );
}
