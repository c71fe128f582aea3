/**
 * SIGINT (Ctrl-C) and SIGTERM (kill, systemd, docker stop) stop a command the same way: the
 * first one aborts the generation so what was generated is kept (and stored as `cancelled` by
 * capture); a second one quits at once.
 */

export type StopSignal = 'SIGINT' | 'SIGTERM';

const STOP_SIGNALS: readonly StopSignal[] = ['SIGINT', 'SIGTERM'];

/** The shell convention: 128 + the signal number. */
export const SIGNAL_EXIT_CODES: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143 };

export const signalLabel = (signal: StopSignal): string => (signal === 'SIGINT' ? 'Ctrl-C' : 'SIGTERM');

export interface StopSignalNotices {
  /** Printed on the first signal. */
  first?(signal: StopSignal): string;
  /** Printed on the second signal, just before the process exits. */
  second?(signal: StopSignal): string;
}

export interface StopSignalHandle {
  /** The first stop signal received, or null. */
  received(): StopSignal | null;
  /** Removes the handlers (the default behaviour of both signals returns). */
  dispose(): void;
}

export function abortOnStopSignals(controller: AbortController, notices: StopSignalNotices = {}, log = (line: string) => console.error(line)): StopSignalHandle {
  let first: StopSignal | null = null;
  const handlers = STOP_SIGNALS.map((signal) => {
    const handler = () => {
      if (first !== null) {
        if (notices.second) log(notices.second(signal));
        process.exit(SIGNAL_EXIT_CODES[signal]);
      }
      first = signal;
      if (notices.first) log(notices.first(signal));
      controller.abort();
    };
    process.on(signal, handler);
    return { signal, handler };
  });
  return {
    received: () => first,
    dispose: () => { for (const { signal, handler } of handlers) process.off(signal, handler); },
  };
}
