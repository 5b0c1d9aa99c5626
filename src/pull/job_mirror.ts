/**
 * The list of taken jobs, shared with the heartbeat thread through a `SharedArrayBuffer`: the
 * main thread rewrites it when jobs come and go, the thread reads it at each ping. Nothing is
 * posted and nothing wakes the thread, so its cost per job is one small memory copy.
 *
 * @module
 */

/** Bytes for the id list (as the Python SDK's ping mirror). */
const CAPACITY = 64 * 1024;
/** Header: a sequence number (odd while a write is in progress) and the byte length. */
const HEADER = 8;

/**
 * The writer's side. Reads use {@linkcode readJobMirror} on the same buffer, from any thread.
 *
 * @example
 * ```ts
 * import { JobMirror, readJobMirror } from "./job_mirror.ts";
 * const mirror = new JobMirror();
 * mirror.write(["a", "b"]);
 * console.assert(readJobMirror(mirror.buffer).join() === "a,b");
 * ```
 */
export class JobMirror {
  /** The shared memory: pass it to the thread. */
  readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(HEADER + CAPACITY);
  readonly #header = new Int32Array(this.buffer, 0, 2);
  readonly #data = new Uint8Array(this.buffer, HEADER);
  readonly #encoder = new TextEncoder();
  #truncated = false;

  /**
   * Replaces the list. A list over 64 KiB is cut at an id boundary.
   *
   * @param ids The job ids.
   * @returns `true` if the whole list fitted, `false` if it was cut.
   */
  write(ids: Iterable<string>): boolean {
    let text = [...ids].join(",");
    let fitted = true;
    if (text.length > CAPACITY / 3) {
      // Encoded size is at most 3 bytes per UTF-16 unit; only long lists need cutting.
      const bytes = this.#encoder.encode(text);
      if (bytes.length > CAPACITY) {
        const cut = bytes.lastIndexOf(44, /* "," */ CAPACITY);
        text = new TextDecoder().decode(bytes.subarray(0, Math.max(0, cut)));
        fitted = false;
      }
    }
    this.#truncated = !fitted;
    // A seqlock: readers retry while the sequence is odd or changed during their read.
    Atomics.add(this.#header, 0, 1);
    const { written } = this.#encoder.encodeInto(text, this.#data);
    Atomics.store(this.#header, 1, written);
    Atomics.add(this.#header, 0, 1);
    return fitted;
  }

  /** Whether the last write had to cut the list. */
  get truncated(): boolean {
    return this.#truncated;
  }
}

/**
 * Reads the list a {@linkcode JobMirror} wrote, consistently even while it is being rewritten.
 *
 * @param buffer The mirror's buffer.
 * @returns The job ids.
 *
 * @example
 * ```ts
 * import { JobMirror, readJobMirror } from "./job_mirror.ts";
 * console.assert(readJobMirror(new JobMirror().buffer).length === 0);
 * ```
 */
export function readJobMirror(buffer: SharedArrayBuffer): string[] {
  const header = new Int32Array(buffer, 0, 2);
  const data = new Uint8Array(buffer, HEADER);
  for (;;) {
    const before = Atomics.load(header, 0);
    if (before % 2 === 1) continue; // a write is in progress
    const length = Atomics.load(header, 1);
    const copy = data.slice(0, length); // TextDecoder cannot read shared memory directly
    if (Atomics.load(header, 0) !== before) continue;
    const text = new TextDecoder().decode(copy);
    return text === "" ? [] : text.split(",");
  }
}
