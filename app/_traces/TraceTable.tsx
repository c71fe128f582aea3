'use client';
import { useEffect, useMemo, useState } from 'react';
import { useRouter } from 'next/navigation';
import { flexRender, getCoreRowModel, useReactTable } from '@tanstack/react-table';
import type { ColumnDef, SortingState, VisibilityState } from '@tanstack/react-table';
import type { SortKey, TraceListPage, TraceRow } from '@/lib/workbench/contracts';
import { SORT_KEYS, TRACE_STATUSES } from '@/lib/workbench/contracts';
import { ExportButton } from './ExportButton';
import { VERDICTS } from '@/lib/annotate/keys';
import { CurationEditor, CurationNotice, RowActions, type CurationTarget } from './Curation';

const FILTER_FIELDS = ['search', 'model', 'collection', 'effort', 'status', 'tag', 'from', 'to', 'hasAnnotations', 'label', 'verdict', 'annotator'] as const;
type FilterField = (typeof FILTER_FIELDS)[number];
type Filters = Record<FilterField, string>;
const EMPTY_FILTERS = Object.fromEntries(FILTER_FIELDS.map((field) => [field, ''])) as Filters;

/** "2 unsafe · 1 safe": how many annotators gave each verdict. */
function verdictSummary(verdicts: TraceRow['verdicts']): string {
  return VERDICTS.filter((verdict) => verdicts[verdict] > 0).map((verdict) => `${verdicts[verdict]} ${verdict}`).join(' · ');
}

const number = (value: number | null) => (value === null ? '' : value.toLocaleString(undefined, { maximumFractionDigits: 1 }));

const COLUMNS: ColumnDef<TraceRow>[] = [
  { id: 'createdAt', header: 'created', accessorKey: 'createdAt', cell: (info) => new Date(info.getValue<string>()).toLocaleString() },
  { id: 'model', header: 'model', accessorKey: 'model', enableSorting: false },
  { id: 'preview', header: 'final answer', accessorKey: 'preview', enableSorting: false },
  { id: 'effort', header: 'effort', accessorKey: 'effort', enableSorting: false },
  { id: 'status', header: 'status', accessorKey: 'status', enableSorting: false },
  { id: 'tokenCount', header: 'tokens', accessorKey: 'tokenCount' },
  { id: 'decodeTokensPerSecond', header: 'tokens/s', accessorKey: 'decodeTokensPerSecond', enableSorting: false, cell: (info) => number(info.getValue<number | null>()) },
  { id: 'tags', header: 'tags', accessorFn: (row) => row.tags.join(', '), enableSorting: false },
  { id: 'collections', header: 'collections', accessorFn: (row) => row.collections.join(', '), enableSorting: false },
  { id: 'annotationCount', header: 'spans', accessorKey: 'annotationCount', enableSorting: false },
  { id: 'labels', header: 'labels', accessorFn: (row) => row.labels.join(', '), enableSorting: false },
  { id: 'verdicts', header: 'verdicts', accessorFn: (row) => verdictSummary(row.verdicts), enableSorting: false },
  { id: 'annotators', header: 'annotators', accessorFn: (row) => row.annotators.join(', '), enableSorting: false },
  { id: 'id', header: 'id', accessorKey: 'id', enableSorting: false },
];

function isSortKey(id: string): id is SortKey {
  return (SORT_KEYS as readonly string[]).includes(id);
}

/** Server-side sorted, filtered, searched and keyset-paginated trace table; researchers also curate (tags, collections, delete). */
export function TraceTable({ canCurate = false }: { canCurate?: boolean }) {
  const router = useRouter();
  const [filters, setFilters] = useState<Filters>(EMPTY_FILTERS);
  const [applied, setApplied] = useState<Filters>(EMPTY_FILTERS);
  const [sorting, setSorting] = useState<SortingState>([{ id: 'createdAt', desc: true }]);
  const [visibility, setVisibility] = useState<VisibilityState>({ id: false, collections: false, annotators: false });
  const [editing, setEditing] = useState<CurationTarget | null>(null);
  const [deleted, setDeleted] = useState<string[]>([]);
  const [reloads, setReloads] = useState(0);
  const reload = () => setReloads((count) => count + 1);
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState<TraceListPage | null>(null);
  const [error, setError] = useState<string | null>(null);
  const cursor = cursors[cursors.length - 1];

  const query = useMemo(() => {
    const params = new URLSearchParams();
    for (const field of FILTER_FIELDS) if (applied[field]) params.set(field, applied[field]);
    const sort = sorting[0];
    if (sort && isSortKey(sort.id)) {
      params.set('sort', sort.id);
      params.set('direction', sort.desc ? 'desc' : 'asc');
    }
    if (cursor) params.set('cursor', cursor);
    return params.toString();
  }, [applied, sorting, cursor]);

  useEffect(() => {
    const controller = new AbortController();
    fetch(`/api/traces?${query}`, { signal: controller.signal })
      .then(async (response) => {
        const body = await response.json();
        if (!response.ok) throw new Error(body.error ?? response.statusText);
        setPage(body as TraceListPage);
        setError(null);
      })
      .catch((reason: Error) => reason.name !== 'AbortError' && setError(reason.message));
    return () => controller.abort();
  }, [query, reloads]);

  const columns = useMemo<ColumnDef<TraceRow>[]>(
    () =>
      canCurate
        ? [...COLUMNS, { id: 'actions', header: 'curate', enableSorting: false, enableHiding: false, cell: (info) => <RowActions row={info.row.original} onEdit={setEditing} onDeleted={(id) => { setDeleted((ids) => [...ids, id]); reload(); }} /> }]
        : COLUMNS,
    [canCurate],
  );

  const table = useReactTable({
    data: page?.rows ?? [],
    columns,
    state: { sorting, columnVisibility: visibility },
    manualSorting: true,
    manualFiltering: true,
    manualPagination: true,
    enableSortingRemoval: false,
    onSortingChange: (updater) => {
      setSorting(updater);
      setCursors([null]);
    },
    onColumnVisibilityChange: setVisibility,
    getCoreRowModel: getCoreRowModel(),
    getRowId: (row) => row.id,
  });

  const apply = () => {
    setApplied(filters);
    setCursors([null]);
  };

  return (
    <div>
      <form className="filters" onSubmit={(event) => { event.preventDefault(); apply(); }}>
        <label>search<input name="search" type="search" placeholder="words in messages" value={filters.search} onChange={(event) => setFilters({ ...filters, search: event.target.value })} /></label>
        <label>model<input name="model" value={filters.model} onChange={(event) => setFilters({ ...filters, model: event.target.value })} /></label>
        <label>collection<input name="collection" value={filters.collection} onChange={(event) => setFilters({ ...filters, collection: event.target.value })} /></label>
        <label>effort
          <select name="effort" value={filters.effort} onChange={(event) => setFilters({ ...filters, effort: event.target.value })}>
            <option value="">any</option><option>low</option><option>medium</option><option>high</option>
          </select>
        </label>
        <label>status
          <select name="status" value={filters.status} onChange={(event) => setFilters({ ...filters, status: event.target.value })}>
            <option value="">any</option>
            {TRACE_STATUSES.map((status) => <option key={status}>{status}</option>)}
          </select>
        </label>
        <label>tag<input name="tag" value={filters.tag} onChange={(event) => setFilters({ ...filters, tag: event.target.value })} /></label>
        <label>from<input name="from" type="date" value={filters.from} onChange={(event) => setFilters({ ...filters, from: event.target.value })} /></label>
        <label>to<input name="to" type="date" value={filters.to} onChange={(event) => setFilters({ ...filters, to: event.target.value })} /></label>
        <label>annotated
          <select name="hasAnnotations" value={filters.hasAnnotations} onChange={(event) => setFilters({ ...filters, hasAnnotations: event.target.value })}>
            <option value="">any</option><option value="true">with spans</option><option value="false">without spans</option>
          </select>
        </label>
        <label>label<input name="label" placeholder="e.g. deception" value={filters.label} onChange={(event) => setFilters({ ...filters, label: event.target.value })} /></label>
        <label>verdict
          <select name="verdict" value={filters.verdict} onChange={(event) => setFilters({ ...filters, verdict: event.target.value })}>
            <option value="">any</option>
            {VERDICTS.map((verdict) => <option key={verdict}>{verdict}</option>)}
          </select>
        </label>
        <label>annotator<input name="annotator" value={filters.annotator} onChange={(event) => setFilters({ ...filters, annotator: event.target.value })} /></label>
        <button type="submit">Apply</button>
        <details className="column-chooser">
          <summary>columns</summary>
          {table.getAllLeafColumns().map((column) => (
            <label key={column.id}>
              <input type="checkbox" checked={column.getIsVisible()} onChange={column.getToggleVisibilityHandler()} /> {String(column.columnDef.header)}
            </label>
          ))}
        </details>
      </form>
      <ExportButton filters={applied} />
      {error ? <p className="error">{error}</p> : null}
      {editing ? <CurationEditor target={editing} onDone={() => { setEditing(null); reload(); }} /> : null}
      {deleted.length > 0 ? <CurationNotice deleted={deleted} onRestored={(id) => { setDeleted((ids) => ids.filter((other) => other !== id)); reload(); }} /> : null}
      <p className="muted" data-testid="trace-count">
        {page === null ? 'loading...' : page.total !== null ? `${page.total} trace${page.total === 1 ? '' : 's'} match` : `${page.rows.length}${page.nextCursor ? '+' : ''} trace${page.rows.length === 1 ? '' : 's'} match`}
        {page && page.rows.length > 0 ? `; page ${cursors.length} shows ${page.rows.length}` : ''}
      </p>
      <table className="trace-table" data-testid="trace-table">
        <thead>
          {table.getHeaderGroups().map((group) => (
            <tr key={group.id}>
              {group.headers.map((header) => (
                <th key={header.id} aria-sort={header.column.getIsSorted() === 'asc' ? 'ascending' : header.column.getIsSorted() === 'desc' ? 'descending' : 'none'}>
                  {header.column.getCanSort() ? (
                    <button type="button" onClick={header.column.getToggleSortingHandler()}>
                      {flexRender(header.column.columnDef.header, header.getContext())}
                      {{ asc: ' ▲', desc: ' ▼' }[header.column.getIsSorted() as string] ?? ''}
                    </button>
                  ) : (
                    flexRender(header.column.columnDef.header, header.getContext())
                  )}
                </th>
              ))}
            </tr>
          ))}
        </thead>
        <tbody>
          {table.getRowModel().rows.map((row) => (
            <tr
              key={row.id}
              data-trace-id={row.id}
              tabIndex={0}
              onClick={() => router.push(`/traces/${row.id}`)}
              onKeyDown={(event) => event.key === 'Enter' && router.push(`/traces/${row.id}`)}
            >
              {row.getVisibleCells().map((cell) => <td key={cell.id}>{flexRender(cell.column.columnDef.cell, cell.getContext())}</td>)}
            </tr>
          ))}
        </tbody>
      </table>
      <div className="pager">
        <button type="button" disabled={cursors.length <= 1} onClick={() => setCursors(cursors.slice(0, -1))}>previous</button>{' '}
        <button type="button" disabled={!page?.nextCursor} onClick={() => page?.nextCursor && setCursors([...cursors, page.nextCursor])}>next</button>
      </div>
    </div>
  );
}
