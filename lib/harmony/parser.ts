/**
 * Streaming harmony parser (spec §5.4). Tokens are pushed one at a time; the output is a list
 * of messages whose token spans cover every pushed token exactly once, in order. Malformed
 * streams never throw: a message cut off by `<|start|>` or by the end of input is kept with
 * complete=false, and tokens outside any message become a message with role `unknown`.
 */
import type { TraceMessage } from '../trace/types';
import { parseHeader, UNKNOWN_ROLE, type ParsedHeader } from './header';
import { CALL, END, MESSAGE, RETURN, START } from './special-tokens';
import { assertTokenId, decode, StreamingDecoder } from './tokenizer';

export type TerminatorKind = 'end' | 'return' | 'call';

export interface ParsedMessage extends TraceMessage {
  /** Tool name for tool messages (`functions.get_weather`), author name for `role:name`. */
  name: string | null;
  /** True when the content type followed `<|constrain|>`. */
  constrained: boolean;
  /** The token that ended the message; null when it has none. */
  terminator: TerminatorKind | null;
}

const TERMINATORS: ReadonlyMap<number, TerminatorKind> = new Map([
  [END, 'end'],
  [RETURN, 'return'],
  [CALL, 'call'],
]);

export interface ParserOptions {
  /**
   * Begin inside the header of a message whose `<|start|>ROLE` was already written, as when
   * parsing only the tokens generated after the prompt's `<|start|>assistant` prefill.
   */
  startInHeaderWithRole?: string;
  /** Index of the first pushed token in the full token list, so spans index into it. Default 0. */
  firstTokenIndex?: number;
}

/** Tokens outside any message. */
interface StrayRun {
  kind: 'stray';
  tokenStart: number;
  ids: number[];
}

interface HeaderInProgress {
  kind: 'header';
  tokenStart: number;
  presetRole?: string;
  headerIds: number[];
}

interface ContentInProgress {
  kind: 'content';
  tokenStart: number;
  header: ParsedHeader;
  decoder: StreamingDecoder;
  content: string;
}

type OpenMessage = StrayRun | HeaderInProgress | ContentInProgress;

function headerOf(open: HeaderInProgress): ParsedHeader {
  return parseHeader(decode(open.headerIds), open.presetRole);
}

function messageFrom(header: ParsedHeader, content: string, tokenStart: number, tokenEnd: number, terminator: TerminatorKind | null, complete: boolean): ParsedMessage {
  return { ...header, content, tokenStart, tokenEnd, complete, terminator };
}

function strayMessage(run: StrayRun, tokenEnd: number): ParsedMessage {
  const header: ParsedHeader = { role: UNKNOWN_ROLE, name: null, channel: null, recipient: null, contentType: null, constrained: false };
  return messageFrom(header, decode(run.ids), run.tokenStart, tokenEnd, null, false);
}

/** How an open message looks if it ends at tokenEnd without a terminator. */
function unterminated(open: OpenMessage, tokenEnd: number, pendingText: string): ParsedMessage {
  switch (open.kind) {
    case 'stray':
      return strayMessage(open, tokenEnd);
    case 'header':
      return messageFrom(headerOf(open), '', open.tokenStart, tokenEnd, null, false);
    case 'content':
      return messageFrom(open.header, open.content + pendingText, open.tokenStart, tokenEnd, null, false);
  }
}

export class HarmonyStreamParser {
  private readonly closed: ParsedMessage[] = [];
  private open: OpenMessage | null = null;
  private nextIndex: number;

  constructor(options: ParserOptions = {}) {
    this.nextIndex = options.firstTokenIndex ?? 0;
    if (options.startInHeaderWithRole !== undefined) {
      this.open = { kind: 'header', tokenStart: this.nextIndex, presetRole: options.startInHeaderWithRole, headerIds: [] };
    }
  }

  /** Index (in the full token list) that the next pushed token will have. */
  get position(): number {
    return this.nextIndex;
  }

  push(id: number): void {
    assertTokenId(id);
    const index = this.nextIndex++;
    if (id === START) {
      this.closeUnterminated(index);
      this.open = { kind: 'header', tokenStart: index, headerIds: [] };
      return;
    }
    const open = this.open;
    if (open === null) {
      this.open = { kind: 'stray', tokenStart: index, ids: [id] };
    } else if (open.kind === 'stray') {
      open.ids.push(id);
    } else if (open.kind === 'header') {
      this.pushHeaderToken(open, id, index);
    } else {
      this.pushContentToken(open, id, index);
    }
  }

  pushAll(ids: Iterable<number>): void {
    for (const id of ids) this.push(id);
  }

  /** Messages finished so far (terminated or cut off by a later `<|start|>`). */
  get completedMessages(): readonly ParsedMessage[] {
    return this.closed;
  }

  /** The message still open, as it stands now (complete=false); null when none is open. */
  get currentMessage(): ParsedMessage | null {
    return this.open === null ? null : unterminated(this.open, this.nextIndex, '');
  }

  /** Finished messages followed by the open one, if any. */
  get messages(): ParsedMessage[] {
    const current = this.currentMessage;
    return current === null ? [...this.closed] : [...this.closed, current];
  }

  /** Ends the stream: the open message, if any, is closed as incomplete. */
  finish(): ParsedMessage[] {
    this.closeUnterminated(this.nextIndex);
    return [...this.closed];
  }

  private pushHeaderToken(open: HeaderInProgress, id: number, index: number): void {
    const terminator = TERMINATORS.get(id);
    if (id === MESSAGE) {
      this.open = { kind: 'content', tokenStart: open.tokenStart, header: headerOf(open), decoder: new StreamingDecoder(), content: '' };
    } else if (terminator !== undefined) {
      // A terminator before `<|message|>`: the message ends here but is malformed.
      this.close(messageFrom(headerOf(open), '', open.tokenStart, index + 1, terminator, false));
    } else {
      open.headerIds.push(id);
    }
  }

  private pushContentToken(open: ContentInProgress, id: number, index: number): void {
    const terminator = TERMINATORS.get(id);
    if (terminator === undefined) {
      open.content += open.decoder.push(id);
      return;
    }
    const content = open.content + open.decoder.flush();
    this.close(messageFrom(open.header, content, open.tokenStart, index + 1, terminator, true));
  }

  private closeUnterminated(tokenEnd: number): void {
    if (this.open === null) return;
    const pendingText = this.open.kind === 'content' ? this.open.decoder.flush() : '';
    this.close(unterminated(this.open, tokenEnd, pendingText));
  }

  private close(message: ParsedMessage): void {
    this.closed.push(message);
    this.open = null;
  }
}

/** Parses a whole token list (preferably prompt and generated tokens together). */
export function parseTokens(ids: Iterable<number>, options: ParserOptions = {}): ParsedMessage[] {
  const parser = new HarmonyStreamParser(options);
  parser.pushAll(ids);
  return parser.finish();
}
