/**
 * A data folder for app tests with known reasoning planted in it (the tiny generated model writes
 * gibberish): one trace whose analysis text holds MARKER (which the test policy redacts), plus
 * malformed reasoning holding LEAK words no filter passes (wrong-case channel, a header word, text
 * after `<|end|>`), and a prompt whose own assistant analysis message holds PROMPT_MARKER, plus an
 * annotation over the MARKER message (text and note quote it) in collection `planted`. Users: a
 * viewer, an annotator, a researcher and an admin with passwords and API tokens. The store is
 * PGlite in a fresh folder unless `storeOptions` names another (PostgreSQL for the API tests).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderConversation } from '../../lib/harmony/render';
import { parseTokens } from '../../lib/harmony/parser';
import { encode } from '../../lib/harmony/tokenizer';
import { openStore, type StoreOptions } from '../../lib/store/index';
import { createAnnotation } from '../../lib/review/annotations';
import { contentTokenOffsets } from '../../lib/review/filter';
import { addUser, createToken } from '../../lib/auth/accounts';
import type { RunResult } from '../../lib/trace/types';

export const MARKER = 'quetzalmarker';
export const PROMPT_MARKER = 'promptquetzal';
export const LEAKS = ['HEADERQUETZAL', 'CASEQUETZAL', 'STRAYQUETZAL'];
export const ALL_MARKERS = [MARKER, PROMPT_MARKER, ...LEAKS];
export const PASSWORDS = { viewer: 'viewer password 123', annotator: 'annotator password 123', researcher: 'researcher password 123', admin: 'admin password 1234' };

export interface PlantedData {
  dataDir: string;
  rulesFile: string;
  traceId: string;
  /** A token inside the planted analysis message. */
  analysisToken: number;
  /** Content tokens [start, end) of the planted analysis message. */
  analysisContent: [number, number];
  /** An annotation (by `ana`) over the planted analysis message, quoting MARKER. */
  annotationId: string;
  tokens: { viewer: string; annotator: string; researcher: string; admin: string };
  env: Record<string, string>;
}

export async function plantData(storeOptions?: StoreOptions): Promise<PlantedData> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'cotscope-planted-'));
  const rulesFile = path.join(dataDir, 'rules.json');
  writeFileSync(rulesFile, JSON.stringify({ name: 'test-policy', version: '1', lexicons: [{ category: 'test marker', ruleId: 'lexicon.marker', terms: [MARKER] }] }));
  const prompt = [{ role: 'user', content: 'Which bird?' }, { role: 'assistant', channel: 'analysis', content: `Earlier thought about ${PROMPT_MARKER}.` }, { role: 'assistant', channel: 'final', content: 'A bird.' }, { role: 'user', content: 'And now?' }];
  const promptIds = renderConversation({ system: { reasoningEffort: 'low' }, developer: null, messages: prompt as never });
  const generated = encode(
    `<|channel|>analysis<|message|>I think the ${MARKER} is the answer; mail ops@example.com.<|end|>` +
    `<|start|>assistant<|channel|>analysis ${LEAKS[0]} plan<|end|>` +
    `<|start|>assistant<|channel|>Analysis<|message|>${LEAKS[1]} thinking<|end|>` +
    `${LEAKS[2]} after the end` +
    '<|start|>assistant<|channel|>final<|message|>The quetzal, a bird.<|return|>',
    { allowSpecial: true },
  );
  const tokens = [...promptIds, ...generated];
  const messages = parseTokens(tokens);
  const analysis = messages.find((message) => message.channel === 'analysis' && message.content.includes(MARKER))!;
  const sampling = { temperature: 1, topP: 1, seed: 0, maxNewTokens: 64 };
  const result: RunResult = {
    model: { name: 'planted', configHash: 'planted' }, tokens, promptLength: promptIds.length, messages,
    logprobs: new Array(generated.length).fill(0), routing: null, attention: null, sampling, stopReason: 'stop_token',
    timings: { prefillMs: 1, decodeMs: 1, prefillTokensPerSecond: 1, decodeTokensPerSecond: 1 },
  };
  const store = await openStore(storeOptions ?? { dataDir, databaseUrl: '' });
  try {
    const model = { name: 'planted', configHash: 'planted', numLayers: 4, numExperts: 8, expertsPerToken: 2, numHeads: 4, hiddenSize: 64, vocabSize: 201088 };
    const traceId = await store.traces.create({ model, prompt, effort: 'low', sampling, collection: 'planted' });
    await store.traces.complete(traceId, result);
    await addUser(store.backend, { name: 'vera', role: 'viewer', password: PASSWORDS.viewer });
    await addUser(store.backend, { name: 'ana', role: 'annotator', password: PASSWORDS.annotator });
    await addUser(store.backend, { name: 'rhea', role: 'researcher', password: PASSWORDS.researcher });
    await addUser(store.backend, { name: 'adam', role: 'admin', password: PASSWORDS.admin });
    const tokenOf = async (name: string) => (await createToken(store.backend, name, 'test')).token;
    const offsets = contentTokenOffsets(analysis, tokens)!;
    const analysisContent: [number, number] = [offsets[0].token, offsets[offsets.length - 1].token + 1];
    const annotation = await createAnnotation(store.backend, { name: 'ana', role: 'annotator', mode: 'configured' }, traceId, {
      tokenStart: analysisContent[0], tokenEnd: analysisContent[1], label: 'deception', severity: 2, note: `the ${MARKER} part`,
    });
    return {
      dataDir, rulesFile, traceId, analysisToken: analysis.tokenStart + 6, analysisContent, annotationId: annotation.id,
      tokens: { viewer: await tokenOf('vera'), annotator: await tokenOf('ana'), researcher: await tokenOf('rhea'), admin: await tokenOf('adam') },
      env: { COTSCOPE_DATA_DIR: dataDir, COTSCOPE_FILTER_RULES: rulesFile, COTSCOPE_USERS: '', COTSCOPE_BCRYPT_ROUNDS: '4' },
    };
  } finally {
    await store.close();
  }
}
