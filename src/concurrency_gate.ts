/**
 * The dynamic concurrency gate: one counter that is the single source of truth for occupancy,
 * resized live without ever waiting for a drain.
 *
 * @module
 */

import { deadline } from "./async/deadline.ts";
import { deferred } from "./async/deferred.ts";
import type { Logger } from "./types.ts";
import type { ConcurrencyObservation } from "./worker/concurrency_observation.ts";

/**
 * Computes the concurrency limit from the current one, as RunPod's `concurrency_modifier`. It
 * may be async. The worker passes what it observed since the previous call as `observed`
 * (completed and failed counts, latency samples, running, waiting); one-argument modifiers
 * ignore it.
 */
export type ConcurrencyModifier = (
  current: number,
  observed?: ConcurrencyObservation,
) => number | Promise<number>;

/** Options for {@linkcode ConcurrencyGate}. */
export interface ConcurrencyGateOptions {
  /** The initial limit. @default 1 */
  limit?: number;
  /** A hard ceiling applied to every limit, whatever the modifier returns. @default Infinity */
  maxLimit?: number;
  /** Recomputes the limit on {@linkcode ConcurrencyGate.refresh}. */
  modifier?: ConcurrencyModifier;
  /**
   * Called just before each modifier call; its value is the modifier's second argument (the
   * shared worker passes its {@linkcode ConcurrencyObservation} window). @default none
   */
  observe?: (state: { running: number; waiting: number; limit: number }) => ConcurrencyObservation;
  /** Receives warnings about bad modifier values. @default console */
  logger?: Pick<Logger, "warn">;
  /**
   * How long an async modifier may take, in ms. Past it the call is given up (its late answer
   * ignored), a warning logged, the limit kept, and the next refresh calls the modifier again.
   * @default 10000
   */
  modifierTimeoutMs?: number;
}

/** A held slot; release it exactly once (further calls do nothing). */
export interface Permit extends Disposable {
  /** Frees the slot. */
  release(): void;
}

/** A slot held: released once, by `release()` or `using`. */
class GatePermit implements Permit {
  #release: (() => void) | undefined;

  constructor(release: () => void) {
    this.#release = release;
  }

  release(): void {
    const release = this.#release;
    if (release === undefined) return;
    this.#release = undefined;
    release();
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

interface Waiter {
  resolve(permit: Permit): void;
  reject(reason: unknown): void;
  cleanup?: () => void;
}

/**
 * A counting semaphore whose limit changes live. Raising the limit admits waiting work at once;
 * lowering it never cancels anything, it only admits nothing new until fewer than the new limit
 * are running. Limits from a modifier are validated: anything but a positive integer (or a throw)
 * is logged and the last good limit kept; values above `maxLimit` are clamped to it.
 *
 * Dispatches `"limitchange"` when the limit changes and `"idle"` when the last permit is
 * released with nobody waiting.
 *
 * @example Resizing while work runs
 * ```ts
 * import { ConcurrencyGate } from "./concurrency_gate.ts";
 * const gate = new ConcurrencyGate({ limit: 1 });
 * const first = gate.tryAcquire()!;
 * const second = gate.acquire(); // waits: the limit is 1
 * gate.limit = 2; // admitted at once, no drain
 * (await second).release();
 * first.release();
 * console.assert(gate.running === 0);
 * ```
 */
export class ConcurrencyGate extends EventTarget {
  #limit: number;
  #maxLimit: number;
  #running = 0;
  #waiters: Waiter[] = [];
  #head = 0;
  /** `"idle"` listeners ever added (a removed one is not subtracted: an extra event is harmless). */
  #idleListeners = 0;
  #modifier?: ConcurrencyModifier;
  #observe?: ConcurrencyGateOptions["observe"];
  #logger: Pick<Logger, "warn">;
  #refreshing?: Promise<number>;
  #modifierTimeoutMs: number;
  #lastWarning?: string;
  #clampWarned = false;
  #idle?: ReturnType<typeof deferred<void>>;
  #capacity?: ReturnType<typeof deferred<void>>;

  /**
   * Creates a gate.
   *
   * @param options Initial limit, ceiling, modifier and logger.
   * @throws {RangeError} When `limit` or `maxLimit` is not a positive integer (`maxLimit` may be
   * `Infinity`).
   */
  constructor(options: ConcurrencyGateOptions = {}) {
    super();
    const maxLimit = options.maxLimit ?? Infinity;
    if (maxLimit !== Infinity && !(Number.isInteger(maxLimit) && maxLimit >= 1)) {
      throw new RangeError(
        `'maxLimit' must be a positive integer or Infinity: received ${maxLimit}`,
      );
    }
    this.#maxLimit = maxLimit;
    this.#limit = checkLimit(options.limit ?? 1, "limit", maxLimit);
    this.#modifier = options.modifier;
    this.#observe = options.observe;
    this.#logger = options.logger ?? console;
    const timeout = options.modifierTimeoutMs ?? 10_000;
    if (!(timeout > 0)) {
      throw new RangeError(`'modifierTimeoutMs' must be a positive number: received ${timeout}`);
    }
    this.#modifierTimeoutMs = timeout;
  }

  /** The number of slots; `running` may exceed it for a while after a decrease. */
  get limit(): number {
    return this.#limit;
  }

  /**
   * Sets the limit at once: waiters are admitted if it grew; running work is never cancelled.
   *
   * @throws {RangeError} When the value is not a positive integer; values above `maxLimit` are
   * clamped.
   */
  set limit(value: number) {
    this.#apply(checkLimit(value, "limit", this.#maxLimit));
  }

  /** The hard ceiling. */
  get maxLimit(): number {
    return this.#maxLimit;
  }

  /** Permits held now. */
  get running(): number {
    return this.#running;
  }

  /** Callers waiting in {@linkcode ConcurrencyGate.acquire}. */
  get waiting(): number {
    return this.#waiters.length - this.#head;
  }

  /** Slots that a new caller would get at once. */
  get free(): number {
    return Math.max(0, this.#limit - this.#running - this.waiting);
  }

  /**
   * Takes a slot now if one is free.
   *
   * @returns A permit, or `undefined` when the gate is full.
   */
  tryAcquire(): Permit | undefined {
    if (this.#running >= this.#limit || this.waiting > 0) return undefined;
    this.#running++;
    return this.#permit();
  }

  /**
   * Waits for a slot, first come first served.
   *
   * @param options `signal` stops waiting (rejecting with its reason).
   * @returns A permit.
   */
  acquire(options: { signal?: AbortSignal } = {}): Promise<Permit> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const permit = this.tryAcquire();
    if (permit) return Promise.resolve(permit);
    const { promise, resolve, reject } = deferred<Permit>();
    const waiter: Waiter = { resolve, reject };
    if (signal) {
      const onAbort = () => {
        const index = this.#waiters.indexOf(waiter, this.#head);
        if (index !== -1) this.#waiters.splice(index, 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      waiter.cleanup = () => signal.removeEventListener("abort", onAbort);
    }
    this.#waiters.push(waiter);
    return promise;
  }

  /**
   * Resolves once a slot is free for a new caller (at once if one is).
   *
   * @returns A promise that never rejects.
   */
  onCapacity(): Promise<void> {
    if (this.free > 0) return Promise.resolve();
    this.#capacity ??= deferred<void>();
    return this.#capacity.promise;
  }

  /**
   * Resolves once nothing runs and nobody waits (at once if so).
   *
   * @returns A promise that never rejects.
   */
  onIdle(): Promise<void> {
    if (this.#running === 0 && this.waiting === 0) return Promise.resolve();
    this.#idle ??= deferred<void>();
    return this.#idle.promise;
  }

  /**
   * Asks the modifier for a new limit and applies it. Concurrent calls share one modifier call.
   * A result that is not a positive integer, or a throw, is logged as a warning and the current
   * limit kept; the gate never throws here. A value above `maxLimit` is clamped to it, with a
   * warning the first time only.
   *
   * @returns The limit in force afterwards.
   */
  refresh(): Promise<number> {
    const modifier = this.#modifier;
    if (!modifier) return Promise.resolve(this.#limit);
    if (this.#refreshing) return this.#refreshing;
    let value: number | Promise<number>;
    try {
      value = this.#observe
        ? modifier(
          this.#limit,
          this.#observe({
            running: this.#running,
            waiting: this.waiting,
            limit: this.#limit,
          }),
        )
        : modifier(this.#limit);
    } catch (error) {
      this.#warn(`concurrencyModifier threw ${describe(error)}`);
      return Promise.resolve(this.#limit);
    }
    if (!isThenable(value)) return Promise.resolve(this.#accept(value));
    // A modifier that never answers must not freeze the limit, nor hold the worker's start.
    const ms = this.#modifierTimeoutMs;
    const refreshing: Promise<number> = deadline(Promise.resolve(value), ms).then(
      (v) => this.#accept(v),
      (error) => {
        if (error instanceof DOMException && error.name === "TimeoutError") {
          this.#warn(
            `concurrencyModifier did not answer within ${ms} ms; keeping concurrency ` +
              `${this.#limit} and asking it again at the next refresh`,
            false,
          );
        } else this.#warn(`concurrencyModifier rejected with ${describe(error)}`);
        return this.#limit;
      },
    ).finally(() => {
      if (this.#refreshing === refreshing) this.#refreshing = undefined;
    });
    this.#refreshing = refreshing;
    return refreshing;
  }

  #accept(value: unknown): number {
    if (typeof value === "number" && value > this.#maxLimit) {
      // Said once: a ceiling under a modifier that probes upwards (adaptiveConcurrency, as the
      // README advises) is clamped every few windows, which logged a line every time.
      this.#lastWarning = undefined;
      if (!this.#clampWarned) {
        this.#clampWarned = true;
        this.#logger.warn(
          `concurrencyModifier returned ${value}, above the ceiling maxConcurrency=${this.#maxLimit}; using ${this.#maxLimit} (later values above it are clamped without a warning)`,
        );
      }
      this.#apply(this.#maxLimit);
    } else if (typeof value === "number" && Number.isInteger(value) && value >= 1) {
      this.#lastWarning = undefined;
      this.#apply(value);
    } else {
      this.#warn(`concurrencyModifier returned ${describe(value)}`);
    }
    return this.#limit;
  }

  #warn(what: string, keeping = true): void {
    const message = keeping
      ? `${what}; expected a positive integer. Keeping concurrency ${this.#limit}`
      : what;
    if (message === this.#lastWarning) return;
    this.#lastWarning = message;
    this.#logger.warn(message);
  }

  #apply(limit: number): void {
    if (limit === this.#limit) return;
    this.#limit = limit;
    this.#admit();
    this.dispatchEvent(new Event("limitchange"));
  }

  #permit(): Permit {
    return new GatePermit(this.#release);
  }

  /** A permit's one release: frees its slot, admits the next waiter, tells of idleness. */
  readonly #release = (): void => {
    this.#running--;
    this.#admit();
    // An Event per job costs more than the rest of a release: made only for a listener.
    if (this.#idleListeners > 0 && this.#running === 0 && this.waiting === 0) {
      this.dispatchEvent(new Event("idle"));
    }
  };

  /**
   * As `EventTarget`'s; counts `"idle"` listeners, so the gate makes its `"idle"` event only when
   * someone listens.
   */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    if (type === "idle" && listener !== null) this.#idleListeners++;
    super.addEventListener(type, listener, options);
  }

  #admit(): void {
    while (this.#running < this.#limit && this.#head < this.#waiters.length) {
      const waiter = this.#waiters[this.#head]!;
      this.#waiters[this.#head++] = undefined as unknown as Waiter;
      waiter.cleanup?.();
      this.#running++;
      waiter.resolve(this.#permit());
    }
    if (this.#head > 0 && this.#head === this.#waiters.length) {
      this.#waiters = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#waiters.length) {
      this.#waiters = this.#waiters.slice(this.#head);
      this.#head = 0;
    }
    if (this.#capacity && this.free > 0) {
      this.#capacity.resolve();
      this.#capacity = undefined;
    }
    if (this.#idle && this.#running === 0 && this.waiting === 0) {
      this.#idle.resolve();
      this.#idle = undefined;
    }
  }
}

/** A positive integer, or `Infinity` when a finite ceiling will clamp it. */
function checkLimit(value: number, name: string, maxLimit: number): number {
  const clampable = value === Infinity && maxLimit !== Infinity;
  if (!(Number.isInteger(value) && value >= 1) && !clampable) {
    throw new RangeError(`'${name}' must be a positive integer: received ${value}`);
  }
  return Math.min(value, maxLimit);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  return String(value);
}
