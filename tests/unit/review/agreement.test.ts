/**
 * Agreement statistics against published worked examples, and the token-level span units built
 * from annotators' spans (none outside a span, missing for an annotator who did not review).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { binaryUnits, cohenKappa, krippendorffAlphaNominal, NO_LABEL, pairwiseKappa, spanAgreement, tokenUnits } from '../../../lib/review/agreement';

/**
 * Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011), the worked example C: four
 * observers, twelve units, values 1-5, missing values (.). Nominal alpha = 0.743 from 40 pairable
 * values in 11 pairable units (unit 12 has one value and drops out).
 */
const KRIPPENDORFF_2011 = {
  A: [1, 2, 3, 3, 2, 1, 4, 1, 2, null, null, null],
  B: [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, null, 3],
  C: [null, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, null],
  D: [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, null],
};

test("Krippendorff 2011 worked example (nominal, missing values): alpha = 0.743 over 11 units and 40 pairable values", () => {
  const coders = Object.values(KRIPPENDORFF_2011);
  const units = coders[0].map((_, unit) => coders.map((coder) => (coder[unit] === null ? null : String(coder[unit]))));
  const result = krippendorffAlphaNominal(units);
  assert.equal(Number(result.alpha!.toFixed(3)), 0.743);
  assert.equal(result.units, 11);
  assert.equal(result.values, 40);
});

/**
 * Wikipedia, "Cohen's kappa", worked example: 50 proposals, reader A and B: both yes 20, A yes and
 * B no 5, A no and B yes 10, both no 15. p_o = 0.7, p_e = 0.5, kappa = 0.4.
 */
test("Wikipedia Cohen's kappa worked example (50 items, 20/5/10/15): p_o 0.7, p_e 0.5, kappa 0.4", () => {
  const pairs = [
    ...Array.from({ length: 20 }, () => ['yes', 'yes'] as const), ...Array.from({ length: 5 }, () => ['yes', 'no'] as const),
    ...Array.from({ length: 10 }, () => ['no', 'yes'] as const), ...Array.from({ length: 15 }, () => ['no', 'no'] as const),
  ];
  const result = cohenKappa(pairs);
  assert.equal(result.items, 50);
  assert.ok(Math.abs(result.observed! - 0.7) < 1e-12 && Math.abs(result.expected! - 0.5) < 1e-12);
  assert.ok(Math.abs(result.kappa! - 0.4) < 1e-12, `kappa ${result.kappa}`);
});

test('kappa and alpha are undefined (null) without items or when every value is alike, and perfect agreement is 1', () => {
  assert.equal(cohenKappa([]).kappa, null);
  assert.equal(cohenKappa([['safe', 'safe'], ['safe', 'safe']]).kappa, null);
  assert.equal(cohenKappa([['safe', 'safe'], ['unsafe', 'unsafe']]).kappa, 1);
  assert.equal(krippendorffAlphaNominal([['a', 'a'], ['a', 'a']]).alpha, null);
  assert.equal(krippendorffAlphaNominal([['a', 'a'], ['b', 'b']]).alpha, 1);
  assert.deepEqual(krippendorffAlphaNominal([['a', null], [null, 'b']]), { alpha: null, units: 0, values: 0 });
});

test('pairwise kappa compares each pair only on the items both rated', () => {
  const ratings = new Map([
    ['t1', new Map([['ann', 'unsafe'], ['bob', 'unsafe'], ['cy', 'safe']])],
    ['t2', new Map([['ann', 'safe'], ['bob', 'safe']])],
    ['t3', new Map([['ann', 'safe'], ['cy', 'safe']])],
  ]);
  const pairs = pairwiseKappa(ratings);
  assert.deepEqual(pairs.map((pair) => [pair.a, pair.b, pair.items, pair.kappa]), [['ann', 'bob', 2, 1], ['ann', 'cy', 2, 0], ['bob', 'cy', 1, 0]]);
});

test('span units: a token outside an annotator\'s spans is "none", an annotator who did not review the trace is missing', () => {
  const traces = [
    { unitRanges: [[10, 14]] as [number, number][], annotators: new Map([['ann', [{ tokenStart: 11, tokenEnd: 13, label: 'deception' }]], ['bob', [{ tokenStart: 12, tokenEnd: 14, label: 'deception' }]]]) },
    { unitRanges: [[0, 2]] as [number, number][], annotators: new Map([['ann', [{ tokenStart: 0, tokenEnd: 1, label: 'other' }, { tokenStart: 0, tokenEnd: 2, label: 'deception' }]]]) },
  ];
  const units = tokenUnits(traces, ['ann', 'bob']);
  assert.deepEqual(units, [
    [NO_LABEL, NO_LABEL], ['deception', NO_LABEL], ['deception', 'deception'], [NO_LABEL, 'deception'],
    ['other', null], ['deception', null], // the earliest span wins where an annotator's spans overlap
  ]);
  assert.deepEqual(binaryUnits(units.slice(4), 'other'), [['other', null], ['not', null]]);
  const agreement = spanAgreement(traces, ['deception', 'other']);
  assert.equal(agreement.units, 4, 'the second trace has one annotator: no pairable units');
  assert.deepEqual(agreement.annotators, ['ann', 'bob']);
  // 4 units, 8 values: none/none, deception/none, deception/deception, none/deception -> 2 disagreeing units of 4.
  assert.ok(Math.abs(agreement.alpha! - (1 - (7 * 4) / (2 * 4 * 4))) < 1e-12, `alpha ${agreement.alpha}`);
  assert.equal(agreement.perLabel[1].alpha, null, 'nobody used "other" on a pairable unit');
});
