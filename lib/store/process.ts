/**
 * The store one server process shares (route handlers, pages, the access check): opened and migrated
 * once, kept on globalThis because Next may load a module once per route bundle.
 */
import { openStore, type Store } from './index';

const holder = globalThis as typeof globalThis & { __cotscopeStore?: Promise<Store> };

export function processStore(): Promise<Store> {
  holder.__cotscopeStore ??= openStore().catch((error: unknown) => {
    holder.__cotscopeStore = undefined;
    throw error;
  });
  return holder.__cotscopeStore;
}

/** Closes the shared store (scripts and tests); the next processStore() opens it again. */
export async function closeProcessStore(): Promise<void> {
  const opened = holder.__cotscopeStore;
  holder.__cotscopeStore = undefined;
  await opened?.then((store) => store.close()).catch(() => undefined);
}
