/**
 * A bounded store of finished jobs' answers, so a redelivered job id gets the stored answer
 * instead of a second run (push), and a client can read a result after the job ended (dev API).
 *
 * @module
 */

/** Options for {@linkcode ResultStore}. */
export interface ResultStoreOptions {
  /** How long an entry is kept, in ms. @default 600000 */
  ttlMs?: number;
  /** How many entries are kept at most; the oldest are forgotten first. @default 10000 */
  maxEntries?: number;
  /** How many bytes (of `size(value)`) are kept at most. @default 64 MiB */
  maxBytes?: number;
  /** The size of a value, in bytes. @default 256 for every entry */
  size?: (value: never) => number;
  /** The clock, in ms. @default Date.now */
  now?: () => number;
}

interface Entry<V> {
  key: string;
  value: V | undefined;
  expires: number;
  bytes: number;
  /** Still in the map: a replaced, deleted or evicted entry is marked, not searched for. */
  live: boolean;
}

/**
 * A map with a time-to-live and bounds on entries and bytes; insertion order is eviction order.
 *
 * @typeParam V The stored value.
 *
 * @example
 * ```ts
 * import { ResultStore } from "./result_store.ts";
 * let now = 0;
 * const store = new ResultStore<string>({ ttlMs: 10, maxEntries: 2, now: () => now });
 * store.set("a", "A");
 * store.set("b", "B");
 * store.set("c", "C"); // "a" is forgotten: two entries at most
 * console.assert(store.get("a") === undefined && store.get("c") === "C");
 * now = 11;
 * console.assert(store.get("c") === undefined); // expired
 * ```
 */
export class ResultStore<V> {
  readonly #entries = new Map<string, Entry<V>>();
  /**
   * Insertion order, oldest first, from `#head`. Eviction walks this array, not the map: a Map
   * whose oldest entries keep being deleted makes every walk from its start skip the holes they
   * leave (it showed as a quarter of a push request's CPU time).
   */
  #order: Entry<V>[] = [];
  #head = 0;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #size: (value: V) => number;
  readonly #now: () => number;
  #bytes = 0;

  /**
   * Creates an empty store.
   *
   * @param options Time-to-live, bounds, sizing and clock.
   * @throws {RangeError} When a bound is negative or not a number.
   */
  constructor(options: ResultStoreOptions = {}) {
    this.#ttlMs = bound(options.ttlMs ?? 600_000, "ttlMs");
    this.#maxEntries = bound(options.maxEntries ?? 10_000, "maxEntries");
    this.#maxBytes = bound(options.maxBytes ?? 64 * 1024 * 1024, "maxBytes");
    this.#size = (options.size as ((value: V) => number) | undefined) ?? (() => 256);
    this.#now = options.now ?? Date.now;
  }

  /** Entries held now (expired ones included until they are next looked at). */
  get size(): number {
    return this.#entries.size;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The most bytes the store holds, as configured. */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  /**
   * Stores a value, replacing any under the same key, and evicts past the bounds.
   *
   * @param key The key (a job id).
   * @param value The value.
   * @returns `"kept"`; `"off"` when the store keeps nothing (`maxEntries` or `ttlMs` is 0);
   * `"too-large"` when the value alone is over `maxBytes`, so it is not kept either.
   */
  set(key: string, value: V): "kept" | "off" | "too-large" {
    const old = this.#entries.get(key);
    if (old) this.#drop(old);
    if (this.#maxEntries === 0 || this.#ttlMs === 0) return "off";
    const bytes = this.#size(value);
    if (bytes > this.#maxBytes) return "too-large";
    const now = this.#now();
    const entry: Entry<V> = { key, value, expires: now + this.#ttlMs, bytes, live: true };
    this.#entries.set(key, entry);
    this.#order.push(entry);
    this.#bytes += bytes;
    this.#evict(now);
    return "kept";
  }

  /**
   * Reads a value that has not expired.
   *
   * @param key The key.
   * @returns The value, or `undefined`.
   */
  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expires <= this.#now()) {
      this.#drop(entry);
      return undefined;
    }
    return entry.value;
  }

  /**
   * Forgets a key.
   *
   * @param key The key.
   * @returns Whether it was held.
   */
  delete(key: string): boolean {
    const entry = this.#entries.get(key);
    if (!entry) return false;
    this.#drop(entry);
    return true;
  }

  /** Takes a live entry out: the map, the byte count, and its value (the order keeps a husk). */
  #drop(entry: Entry<V>): void {
    entry.live = false;
    entry.value = undefined;
    this.#entries.delete(entry.key);
    this.#bytes -= entry.bytes;
  }

  /** Iterates the live entries, oldest first. */
  *entries(): IterableIterator<[string, V]> {
    const now = this.#now();
    for (const [key, entry] of this.#entries) if (entry.expires > now) yield [key, entry.value!];
  }

  #evict(now: number): void {
    const order = this.#order;
    while (this.#head < order.length) {
      const entry = order[this.#head]!;
      if (entry.live) {
        const over = this.#entries.size > this.#maxEntries || this.#bytes > this.#maxBytes;
        if (!over && entry.expires > now) break;
        this.#drop(entry);
      }
      this.#head++; // replaced or deleted entries are skipped
    }
    // Replaced and deleted entries linger in the order until the head passes them: compact it
    // when they outnumber the live ones, so it stays within twice the store's size.
    if (this.#order.length - this.#head > 2 * this.#entries.size + 1024) {
      this.#order = this.#order.slice(this.#head).filter((e) => e.live);
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
  }
}

function bound(value: number, name: string): number {
  if (!(value >= 0)) {
    throw new RangeError(`'${name}' must be a non-negative number: received ${value}`);
  }
  return value;
}
