'use client';
/**
 * The annotation state of one trace view: the trace's spans, verdicts and taxonomy, the token
 * selection in the raw reasoning, and the keyboard. Provided once per trace view; the annotatable
 * text, the span list, the heatmap bands, the verdict control and the queue bar read it.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { annotationAction, isTypingTarget, type AnnotationAction, type Severity, type VerdictValue } from '@/lib/annotate/keys';
import { adjacentSpan } from '@/lib/annotate/navigation';
import { extendBy, moveCursor, selectionRange, type TokenSelection } from '@/lib/annotate/selection';
import type { AnnotationJson, TraceAnnotations } from '@/lib/annotate/contracts';
import { labelName } from '@/lib/annotate/colors';
import type { TokenRange } from '@/lib/workbench/routing-stats';
import { useFocusState, useTokenFocus } from '@/app/_components/useTokenFocus';
import { annotationsApi } from './api';

export interface AnnotationController {
  traceId: string;
  me: string;
  canAnnotate: boolean;
  /** Researchers run the redaction rules to propose spans. */
  canPropose: boolean;
  /** Token ranges of the raw reasoning messages spans may cover (sorted). */
  annotatable: TokenRange[];
  data: TraceAnnotations | null;
  error: string | null;
  selection: TokenSelection | null;
  selectedSpan: AnnotationJson | null;
  defaultSeverity: Severity;
  editingNote: string | null;
  helpOpen: boolean;
  /** The last thing done, for the screen-reader live region. */
  status: string;
  setSelection(selection: TokenSelection | null): void;
  selectSpan(span: AnnotationJson | null): void;
  run(action: AnnotationAction): void;
  saveNote(id: string, note: string): Promise<void>;
  cancelNote(): void;
  review(id: string, decision: 'accept' | 'reject'): Promise<void>;
  remove(id: string): Promise<void>;
  setVerdict(verdict: VerdictValue, rationale?: string): Promise<void>;
  propose(): Promise<void>;
  setHelpOpen(open: boolean): void;
  reload(): Promise<void>;
}

const AnnotationContext = createContext<AnnotationController | null>(null);

export function useAnnotations(): AnnotationController {
  const controller = useContext(AnnotationContext);
  if (!controller) throw new Error('useAnnotations must be used inside an AnnotationProvider');
  return controller;
}

/** The annotation state for components that may sit outside a trace view (the heatmap on /run). */
export function useOptionalAnnotations(): AnnotationController | null {
  return useContext(AnnotationContext);
}

export function AnnotationProvider({ traceId, me, canAnnotate, canPropose, annotatable, children }: {
  traceId: string;
  me: string;
  canAnnotate: boolean;
  canPropose: boolean;
  annotatable: TokenRange[];
  children: ReactNode;
}) {
  const focus = useTokenFocus();
  const spanId = useFocusState((state) => state.spanId);
  const [data, setData] = useState<TraceAnnotations | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selection, setSelectionState] = useState<TokenSelection | null>(null);
  const [defaultSeverity, setDefaultSeverity] = useState<Severity>(2);
  const [editingNote, setEditingNote] = useState<string | null>(null);
  const [helpOpen, setHelpOpen] = useState(false);
  const [status, setStatus] = useState('');

  const reload = useCallback(async () => {
    try {
      setData(await annotationsApi.load(traceId));
      setError(null);
    } catch (reason) {
      setError((reason as Error).message);
    }
  }, [traceId]);
  useEffect(() => void reload(), [reload]);

  const selectedSpan = useMemo(() => data?.annotations.find((span) => span.id === spanId) ?? null, [data, spanId]);
  const taxonomy = useMemo(() => data?.taxonomy ?? [], [data]);

  const setSelection = useCallback(
    (next: TokenSelection | null) => {
      setSelectionState(next);
      if (next) {
        focus.selectRange(selectionRange(next));
        focus.select(next.head);
      } else focus.selectRange(null);
    },
    [focus],
  );

  const selectSpan = useCallback(
    (span: AnnotationJson | null) => {
      focus.selectSpan(span);
      setSelectionState(span ? { anchor: span.tokenStart, head: span.tokenEnd - 1 } : null);
      if (span) setStatus(`span ${labelName(span.label, taxonomy)}, severity ${span.severity}, by ${span.annotator}, tokens ${span.tokenStart}-${span.tokenEnd - 1}`);
    },
    [focus, taxonomy],
  );

  /** Runs a request, reloads the trace's annotations, and reports the outcome in the live region. */
  const perform = useCallback(
    async (request: () => Promise<unknown>, done: string) => {
      try {
        await request();
        setStatus(done);
        setError(null);
      } catch (reason) {
        setStatus(`failed: ${(reason as Error).message}`);
        setError((reason as Error).message);
      }
      await reload();
    },
    [reload],
  );

  const createSpan = useCallback(
    async (range: TokenRange, label: string) => {
      try {
        const { annotation } = await annotationsApi.create(traceId, { tokenStart: range.start, tokenEnd: range.end, label, severity: defaultSeverity });
        setStatus(`labelled tokens ${range.start}-${range.end - 1} ${labelName(label, taxonomy)}, severity ${defaultSeverity}`);
        setError(null);
        await reload();
        focus.selectSpan(annotation);
      } catch (reason) {
        setStatus(`failed: ${(reason as Error).message}`);
        setError((reason as Error).message);
      }
    },
    [traceId, defaultSeverity, taxonomy, reload, focus],
  );

  const setVerdict = useCallback(
    (verdict: VerdictValue, rationale?: string) => perform(() => annotationsApi.verdict(traceId, verdict, rationale), `verdict: ${verdict}`),
    [perform, traceId],
  );

  const run = useCallback(
    (action: AnnotationAction) => {
      const spans = data?.annotations ?? [];
      const cursor = selection?.head ?? focus.snapshot().selected ?? annotatable[0]?.start ?? 0;
      switch (action.type) {
        case 'move': {
          const token = selection === null && focus.snapshot().selected === null ? annotatable[0]?.start ?? 0 : moveCursor(annotatable, cursor, action.delta);
          setSelection({ anchor: token, head: token });
          return;
        }
        case 'extend': {
          const start = selection ?? { anchor: cursor, head: cursor };
          setSelection(extendBy(annotatable, start, action.delta));
          return;
        }
        case 'label': {
          if (!canAnnotate) return;
          const label = taxonomy[action.index];
          if (!label) return setStatus(`no label number ${action.index + 1} in this taxonomy`);
          if (selectedSpan) return void perform(() => annotationsApi.update(selectedSpan.id, { label: label.key }), `relabelled ${label.name}`);
          if (selection) return void createSpan(selectionRange(selection), label.key);
          return setStatus('select tokens first (shift + arrows, or drag)');
        }
        case 'severity': {
          if (!canAnnotate) return;
          if (selectedSpan) return void perform(() => annotationsApi.update(selectedSpan.id, { severity: action.severity }), `severity ${action.severity}`);
          setDefaultSeverity(action.severity);
          return setStatus(`new spans get severity ${action.severity}`);
        }
        case 'next-span':
        case 'previous-span': {
          const span = adjacentSpan(spans, { spanId, token: cursor }, action.type === 'next-span' ? 1 : -1);
          if (span) selectSpan(span);
          return;
        }
        case 'delete-span':
          if (canAnnotate && selectedSpan) {
            focus.selectSpan(null);
            void perform(() => annotationsApi.remove(selectedSpan.id), `deleted the ${labelName(selectedSpan.label, taxonomy)} span`);
          }
          return;
        case 'edit-note':
          if (canAnnotate && selectedSpan) setEditingNote(selectedSpan.id);
          return;
        case 'help':
          setHelpOpen((open) => !open);
          return;
        case 'escape':
          if (helpOpen) return setHelpOpen(false);
          setEditingNote(null);
          focus.selectSpan(null);
          setSelectionState(null);
          return;
        case 'verdict':
          if (canAnnotate) void setVerdict(action.verdict);
          return;
      }
    },
    [data, selection, focus, annotatable, canAnnotate, taxonomy, selectedSpan, perform, createSpan, spanId, selectSpan, helpOpen, setSelection, setVerdict],
  );

  // One keyboard listener for the whole trace view; keys typed into form fields stay there.
  const runRef = useRef(run);
  runRef.current = run;
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement | null;
      if (isTypingTarget(target)) return;
      const inText = target?.closest?.('[data-annotatable]') != null;
      const action = annotationAction(event, { inText });
      if (!action) return;
      event.preventDefault();
      runRef.current(action);
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  const controller: AnnotationController = {
    traceId,
    me,
    canAnnotate,
    canPropose,
    annotatable,
    data,
    error,
    selection,
    selectedSpan,
    defaultSeverity,
    editingNote,
    helpOpen,
    status,
    setSelection,
    selectSpan,
    run,
    saveNote: async (id, note) => {
      setEditingNote(null);
      await perform(() => annotationsApi.update(id, { note }), 'note saved');
    },
    cancelNote: () => setEditingNote(null),
    review: (id, decision) => perform(() => annotationsApi.review(id, decision), `proposal ${decision}ed`),
    remove: (id) => perform(() => annotationsApi.remove(id), 'span deleted'),
    setVerdict,
    propose: () => perform(() => annotationsApi.propose(traceId), 'rule proposals added'),
    setHelpOpen,
    reload,
  };
  return <AnnotationContext.Provider value={controller}>{children}</AnnotationContext.Provider>;
}
