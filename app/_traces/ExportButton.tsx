'use client';
/** Downloads the traces matching the table's filters as a zipped dataset (GET /api/export streams it). */
export function ExportButton({ filters }: { filters: Record<string, string> }) {
  const params = new URLSearchParams(Object.entries(filters).filter(([, value]) => value !== ''));
  params.set('archive', 'zip');
  return (
    <a className="button" href={`/api/export?${params.toString()}`} download data-testid="export-dataset">
      download dataset (zip)
    </a>
  );
}
