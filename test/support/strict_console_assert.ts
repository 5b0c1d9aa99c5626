/**
 * Loaded before the JSDoc examples run (`deno test --doc --preload`, the `docs` runner of
 * `npm test`): the examples state their results with `console.assert`, which only prints when
 * the condition is false. Here it throws, so an example whose claim is wrong fails its test.
 *
 * @module
 */

console.assert = (condition?: unknown, ...data: unknown[]): void => {
  if (condition) return;
  const detail = data.length > 0 ? `: ${data.map((item) => String(item)).join(" ")}` : "";
  throw new Error(`An example's console.assert failed${detail}`);
};
