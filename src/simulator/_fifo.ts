/**
 * A first-in first-out queue with O(1) push and shift (an array with a moving head, compacted
 * once the dead prefix outgrows the live part).
 *
 * @module
 */

/**
 * A FIFO queue.
 *
 * @typeParam T The item type.
 *
 * @example Order is kept
 * ```ts
 * import { Fifo } from "./_fifo.ts";
 * const q = new Fifo<number>();
 * q.push(1);
 * q.push(2);
 * console.assert(q.shift() === 1 && q.length === 1);
 * ```
 */
export class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  /** The number of queued items. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /**
   * Appends an item.
   *
   * @param item The item.
   */
  push(item: T): void {
    this.#items.push(item);
  }

  /**
   * Returns the oldest item without removing it.
   *
   * @returns The oldest item, or `undefined` when empty.
   */
  peek(): T | undefined {
    return this.#items[this.#head];
  }

  /**
   * Removes and returns the oldest item.
   *
   * @returns The oldest item, or `undefined` when empty.
   */
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /**
   * Iterates the queued items, oldest first, without removing them.
   *
   * @returns An iterator over the queued items.
   */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.#head; i < this.#items.length; i++) yield this.#items[i] as T;
  }
}
