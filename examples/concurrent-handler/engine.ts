/**
 * A stand-in for an inference engine (vLLM, TGI, ...): it has a concurrency it can sustain and
 * streams generated tokens in batches. Deterministic, so every runtime prints the same result.
 *
 * @module
 */

/** Options for {@linkcode Engine.generate}. */
export interface GenerateOptions {
  /** Tokens to generate. */
  maxTokens: number;
  /** Tokens per streamed batch. */
  batchSize: number;
  /** Stops generation. */
  signal?: AbortSignal;
}

/** A toy engine with a live concurrency figure, as `engine.maxConcurrency` in RunPod's docs. */
export class Engine {
  /** How many requests the engine serves at once; may change at run time. */
  maxConcurrency = 4;

  /**
   * Streams `maxTokens` tokens in batches of `batchSize`.
   *
   * @param prompt The prompt; tokens echo its words.
   * @param options Sizes and cancellation.
   */
  async *generate(prompt: string, options: GenerateOptions): AsyncGenerator<string[]> {
    const words = prompt.split(/\s+/).filter(Boolean);
    let batch: string[] = [];
    for (let i = 0; i < options.maxTokens; i++) {
      options.signal?.throwIfAborted();
      // Simulated decode time per token.
      await new Promise((resolve) => setTimeout(resolve, 2));
      batch.push(`${words[i % words.length] ?? "token"}#${i}`);
      if (batch.length === options.batchSize) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }
}
