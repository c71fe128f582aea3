/**
 * Inter-annotator agreement, pure:
 *   - Cohen's kappa for two raters over the items both rated (trace verdicts);
 *   - Krippendorff's alpha for nominal data with missing values (Krippendorff 2011, "Computing
 *     Krippendorff's Alpha-Reliability"): a coincidence matrix over pairable values, units with
 *     fewer than two values dropped;
 *   - span agreement at token level: units are the content tokens of a trace's analysis messages,
 *     an annotator's value for a token is the label of their span covering it ("none" outside
 *     their spans; their earliest span wins where two overlap), an annotator who did not review
 *     the trace is missing. Per label: the same data recoded binary (this label vs anything else).
 * An undefined statistic (no items, or all values alike so chance agreement is total) is null.
 */

export const NO_LABEL = 'none';

export interface KappaResult {
  kappa: number | null;
  /** Items both raters rated. */
  items: number;
  observed: number | null;
  expected: number | null;
}

/** Cohen's kappa of two raters' labels for the same items (pairs [a, b]). */
export function cohenKappa(pairs: readonly (readonly [string, string])[]): KappaResult {
  const items = pairs.length;
  if (items === 0) return { kappa: null, items, observed: null, expected: null };
  const countsA = new Map<string, number>();
  const countsB = new Map<string, number>();
  let agree = 0;
  for (const [a, b] of pairs) {
    if (a === b) agree += 1;
    countsA.set(a, (countsA.get(a) ?? 0) + 1);
    countsB.set(b, (countsB.get(b) ?? 0) + 1);
  }
  const observed = agree / items;
  let expected = 0;
  for (const [category, count] of countsA) expected += (count / items) * ((countsB.get(category) ?? 0) / items);
  return { kappa: expected === 1 ? null : (observed - expected) / (1 - expected), items, observed, expected };
}

export interface AlphaResult {
  alpha: number | null;
  /** Units with at least two values (the pairable units). */
  units: number;
  /** Pairable values: the n of the coincidence matrix. */
  values: number;
}

/**
 * Krippendorff's alpha, nominal metric. `units[u]` holds each coder's value for unit u, null where
 * missing; a unit with fewer than two values carries no information about agreement and is dropped.
 */
export function krippendorffAlphaNominal(units: readonly (readonly (string | null)[])[]): AlphaResult {
  const coincidences = new Map<string, Map<string, number>>();
  const add = (c: string, k: string, weight: number) => {
    let row = coincidences.get(c);
    if (!row) coincidences.set(c, (row = new Map()));
    row.set(k, (row.get(k) ?? 0) + weight);
  };
  let pairableUnits = 0;
  for (const unit of units) {
    const values = unit.filter((value): value is string => value !== null);
    const m = values.length;
    if (m < 2) continue;
    pairableUnits += 1;
    const counts = new Map<string, number>();
    for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
    for (const [c, nc] of counts) {
      for (const [k, nk] of counts) add(c, k, (c === k ? nc * (nc - 1) : nc * nk) / (m - 1));
    }
  }
  const marginals = new Map<string, number>();
  let n = 0;
  let disagreement = 0;
  for (const [c, row] of coincidences) {
    for (const [k, o] of row) {
      marginals.set(c, (marginals.get(c) ?? 0) + o);
      n += o;
      if (c !== k) disagreement += o;
    }
  }
  const values = Math.round(n);
  let expectedDisagreement = 0;
  for (const [c, nc] of marginals) for (const [k, nk] of marginals) if (c !== k) expectedDisagreement += nc * nk;
  if (n <= 1 || expectedDisagreement === 0) return { alpha: null, units: pairableUnits, values };
  return { alpha: 1 - ((n - 1) * disagreement) / expectedDisagreement, units: pairableUnits, values };
}

export interface SpanLabel {
  tokenStart: number;
  tokenEnd: number;
  label: string;
}

export interface TraceSpans {
  /** Token ranges [start, end) of the trace's analysis content: the units. */
  unitRanges: readonly (readonly [number, number])[];
  /** Each annotator who reviewed the trace, with their spans in creation order. */
  annotators: ReadonlyMap<string, readonly SpanLabel[]>;
}

/** Token-level units over many traces: one column per annotator, null where they did not review the trace. */
export function tokenUnits(traces: readonly TraceSpans[], annotators: readonly string[]): (string | null)[][] {
  const units: (string | null)[][] = [];
  for (const trace of traces) {
    for (const [start, end] of trace.unitRanges) {
      for (let token = start; token < end; token++) {
        units.push(annotators.map((annotator) => {
          const spans = trace.annotators.get(annotator);
          if (!spans) return null;
          return spans.find((span) => span.tokenStart <= token && token < span.tokenEnd)?.label ?? NO_LABEL;
        }));
      }
    }
  }
  return units;
}

/** The units recoded binary for one label: the label, or `not` for any other value (missing stays missing). */
export function binaryUnits(units: readonly (readonly (string | null)[])[], label: string): (string | null)[][] {
  return units.map((unit) => unit.map((value) => (value === null ? null : value === label ? label : 'not')));
}

export interface SpanAgreement extends AlphaResult {
  annotators: string[];
  perLabel: ({ label: string } & AlphaResult)[];
}

export function spanAgreement(traces: readonly TraceSpans[], labels: readonly string[]): SpanAgreement {
  const annotators = [...new Set(traces.flatMap((trace) => [...trace.annotators.keys()]))].sort();
  const units = tokenUnits(traces, annotators);
  return {
    ...krippendorffAlphaNominal(units),
    annotators,
    perLabel: labels.map((label) => ({ label, ...krippendorffAlphaNominal(binaryUnits(units, label)) })),
  };
}

export interface KappaPair extends KappaResult {
  a: string;
  b: string;
}

/** Cohen's kappa for every pair of annotators over the items both rated. `ratings`: item -> annotator -> value. */
export function pairwiseKappa(ratings: ReadonlyMap<string, ReadonlyMap<string, string>>): KappaPair[] {
  const annotators = [...new Set([...ratings.values()].flatMap((byAnnotator) => [...byAnnotator.keys()]))].sort();
  const pairs: KappaPair[] = [];
  for (let i = 0; i < annotators.length; i++) {
    for (let j = i + 1; j < annotators.length; j++) {
      const [a, b] = [annotators[i], annotators[j]];
      const both = [...ratings.values()].flatMap((byAnnotator) => (byAnnotator.has(a) && byAnnotator.has(b) ? [[byAnnotator.get(a)!, byAnnotator.get(b)!] as const] : []));
      pairs.push({ a, b, ...cohenKappa(both) });
    }
  }
  return pairs;
}
