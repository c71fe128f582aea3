'use client';
import { createContext, useContext, useSyncExternalStore } from 'react';
import { TokenFocus } from '@/lib/workbench/token-focus';
import type { TokenFocusState } from '@/lib/workbench/token-focus';

export const TokenFocusContext = createContext<TokenFocus | null>(null);

export function useTokenFocus(): TokenFocus {
  const focus = useContext(TokenFocusContext);
  if (!focus) throw new Error('useTokenFocus must be used inside a TokenFocusContext provider');
  return focus;
}

export function useFocusState<T>(pick: (state: TokenFocusState) => T): T {
  const focus = useTokenFocus();
  return useSyncExternalStore(
    focus.subscribe,
    () => pick(focus.snapshot()),
    () => pick(focus.snapshot()),
  );
}
