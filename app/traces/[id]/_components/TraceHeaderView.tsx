import Link from 'next/link';
import type { TraceHeader } from '@/lib/workbench/contracts';

const fixed = (value: number | null, digits = 1) => (value === null ? '-' : value.toFixed(digits));

export function TraceHeaderView({ header }: { header: TraceHeader }) {
  const entries: [string, string][] = [
    ['model', header.model],
    ['effort', header.effort ?? '-'],
    ['status', `${header.status}${header.stopReason ? ` (${header.stopReason})` : ''}`],
    ['temperature', String(header.temperature)],
    ['top-p', String(header.topP)],
    ['seed', header.seed],
    ['max new tokens', String(header.maxNewTokens)],
    ['tokens', `${header.promptTokens} prompt + ${header.tokenCount - header.promptTokens} generated`],
    ['prefill', `${fixed(header.prefillMs)} ms (${fixed(header.prefillTokensPerSecond)} tok/s)`],
    ['decode', `${fixed(header.decodeMs)} ms (${fixed(header.decodeTokensPerSecond)} tok/s)`],
    ['created', new Date(header.createdAt).toLocaleString()],
    ['config hash', header.configHash.slice(0, 12)],
  ];
  return (
    <section aria-label="Trace header">
      <h1>
        Trace <code>{header.id}</code> <small><Link href={`/compare?a=${header.id}`}>compare...</Link></small>
      </h1>
      <dl className="header-grid" data-testid="trace-header">
        {entries.map(([label, value]) => (
          <div key={label}><dt>{label}</dt><dd>{value}</dd></div>
        ))}
      </dl>
    </section>
  );
}
