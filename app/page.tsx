import { TraceTable } from './_traces/TraceTable';

export const dynamic = 'force-dynamic';

export default function TracesPage() {
  return (
    <>
      <h1>Traces</h1>
      <TraceTable />
    </>
  );
}
