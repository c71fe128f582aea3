'use client';
import { useEffect, useState } from 'react';
import { interpolateMagma } from 'd3';
import type { TokenDetail } from '@/lib/workbench/contracts';
import { expertColor } from '@/lib/workbench/colors';
import { MatrixCanvas } from './MatrixCanvas';
import { SequentialLegend } from './Legend';
import { useFocusState, useTokenFocus } from './useTokenFocus';

function ProbabilityBars({ probabilities }: { probabilities: number[] }) {
  const peak = Math.max(...probabilities, 1e-9);
  return (
    <svg className="bars" width={probabilities.length * 3} height={18} aria-label="router distribution over experts">
      {probabilities.map((p, expert) => (
        <rect key={expert} x={expert * 3} y={18 - (p / peak) * 18} width={2} height={(p / peak) * 18} fill={expertColor(expert)}>
          <title>{`expert ${expert}: p=${p.toFixed(4)}`}</title>
        </rect>
      ))}
    </svg>
  );
}

/** Per-layer routing and attention of the selected token, fetched on demand with exact values. */
export function TokenInspector({ traceId, numLayers, hasAttention }: { traceId: string; numLayers: number; hasAttention: boolean }) {
  const focus = useTokenFocus();
  const selected = useFocusState((state) => state.selected);
  const [layer, setLayer] = useState(0);
  const [detail, setDetail] = useState<TokenDetail | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (selected === null) return;
    const controller = new AbortController();
    fetch(`/api/traces/${traceId}/tokens/${selected}?layer=${layer}`, { signal: controller.signal })
      .then(async (response) => {
        const body = await response.json();
        if (!response.ok) throw new Error(body.error ?? response.statusText);
        setDetail(body as TokenDetail);
        setError(null);
      })
      .catch((reason: Error) => {
        if (reason.name !== 'AbortError') setError(reason.message);
      });
    return () => controller.abort();
  }, [traceId, selected, layer]);

  if (selected === null) return <section className="inspector" data-testid="token-inspector"><h3>Token inspector</h3><p className="muted">Click a token (or focus the heatmap and use the arrow keys).</p></section>;
  if (error) return <section className="inspector" data-testid="token-inspector"><p className="error">{error}</p></section>;
  if (!detail || detail.index !== selected) return <section className="inspector" data-testid="token-inspector"><h3>Token {selected}</h3><p className="muted">loading...</p></section>;
  return (
    <section className="inspector" data-testid="token-inspector">
      <h3>
        Token {detail.index} <code className="token-chip">{JSON.stringify(detail.text)}</code> <small>id {detail.token}</small>
      </h3>
      <table className="routing-table" data-testid="token-routing">
        <thead>
          <tr><th>layer</th><th>top-k experts (weight)</th><th>entropy</th><th>router distribution</th></tr>
        </thead>
        <tbody>
          {detail.routing.map((row) => (
            <tr key={row.layer}>
              <td>{row.layer}</td>
              <td>
                {row.experts.map(({ expert, weight }) => (
                  <span key={expert} className="expert-chip" style={{ borderColor: expertColor(expert) }}>
                    e{expert} <b>{weight.toFixed(3)}</b>
                  </span>
                ))}
              </td>
              <td>{row.entropy.toFixed(3)}</td>
              <td><ProbabilityBars probabilities={row.probabilities} /></td>
            </tr>
          ))}
        </tbody>
      </table>
      {hasAttention ? (
        <>
          <h4>Sink mass per head <small>(layers x heads; click a row to pick the layer)</small></h4>
          <MatrixCanvas
            values={detail.sinkMass.flat()}
            rows={detail.sinkMass.length}
            columns={detail.sinkMass[0]?.length ?? 0}
            colourOf={interpolateMagma}
            label="sink mass per layer and head"
            onCell={(row) => setLayer(Math.min(numLayers - 1, row))}
          />
          <SequentialLegend interpolate={interpolateMagma} domain={[0, 1]} label="sink mass" />
          <h4>
            Top attended positions, layer{' '}
            <select value={layer} onChange={(event) => setLayer(Number(event.target.value))} aria-label="attention layer">
              {Array.from({ length: numLayers }, (_, l) => <option key={l} value={l}>{l}</option>)}
            </select>
          </h4>
          <table className="attention-table">
            <tbody>
              {detail.attention.map((head) => (
                <tr key={head.head}>
                  <td>h{head.head}</td>
                  <td>sink {head.sinkMass.toFixed(3)}</td>
                  <td>
                    {head.top.map(({ position, weight }) => (
                      <button key={position} type="button" className="position-chip" onClick={() => focus.select(position)} title={`attend to token ${position}`}>
                        {position}:{weight.toFixed(2)}
                      </button>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : <p className="muted">No attention capture in this trace.</p>}
    </section>
  );
}
