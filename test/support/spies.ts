/**
 * Spies for the async helpers' tests: which timers and abort listeners a call leaves behind.
 *
 * @module
 */

/** Timers started and cleared. */
export interface TimerSpy {
  /** The ids of the timers started, in order. */
  started: unknown[];
  /** The delays of the timers started, in order. */
  delays: (number | undefined)[];
  /** The ids passed to `clearTimeout`, in order. */
  cleared: unknown[];
}

/** Records the timers started and cleared (through the globals) while `fn` runs. */
export async function withTimerSpy(fn: (spy: TimerSpy) => Promise<void>): Promise<void> {
  const realSetTimeout = globalThis.setTimeout;
  const realClearTimeout = globalThis.clearTimeout;
  const spy: TimerSpy = { started: [], delays: [], cleared: [] };
  globalThis.setTimeout = ((handler: () => void, ms?: number) => {
    const id = realSetTimeout(handler, ms);
    spy.started.push(id);
    spy.delays.push(ms);
    return id;
  }) as unknown as typeof setTimeout;
  globalThis.clearTimeout = ((id?: Parameters<typeof clearTimeout>[0]) => {
    spy.cleared.push(id);
    realClearTimeout(id);
  }) as typeof clearTimeout;
  try {
    await fn(spy);
  } finally {
    globalThis.setTimeout = realSetTimeout;
    globalThis.clearTimeout = realClearTimeout;
  }
}

/** Tracks the abort listeners currently added to `signal`. */
export function abortListeners(signal: AbortSignal): Set<unknown> {
  const listeners = new Set<unknown>();
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((type: string, listener: EventListener, options?: boolean) => {
    if (type === "abort") listeners.add(listener);
    add(type, listener, options);
  }) as unknown as typeof signal.addEventListener;
  signal.removeEventListener = ((type: string, listener: EventListener, options?: boolean) => {
    if (type === "abort") listeners.delete(listener);
    remove(type, listener, options);
  }) as unknown as typeof signal.removeEventListener;
  return listeners;
}
