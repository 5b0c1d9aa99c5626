/**
 * The smallest useful worker: echoes its input back, after validating it with valibot.
 * Invalid input becomes a FAILED result that lists each issue; the handler is not called.
 *
 * Run it: `bun handler.ts --test_input '{"input": {"message": "hi"}}'` (or with `deno run
 * --allow-env` / `node --import tsx`), or from this folder with its `test_input.json`.
 */

import * as v from "valibot";
import { type Job, start } from "edgepod";

const Input = v.object({
  message: v.pipe(v.string(), v.minLength(1)),
  repeat: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 1),
});

start({
  inputSchema: Input,
  handler: (job: Job<v.InferOutput<typeof Input>>) => ({
    echo: Array.from({ length: job.input.repeat }, () => job.input.message).join(" "),
  }),
});
