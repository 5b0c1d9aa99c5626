/**
 * The dev API's playground: one self-contained HTML page (no build step, no external asset) to
 * submit a job, watch its status and streamed chunks live, and cancel it.
 *
 * @module
 */

/**
 * The playground page served at `/`. It calls the dev API under `/v2/local/` from the same
 * origin: `Run` posts `/run` then follows `/stream` (long-poll) to the end; `Run sync` posts
 * `/runsync?wait=1000` and follows the same way if the job is still going; `Cancel` posts
 * `/cancel`.
 *
 * @example
 * ```ts
 * import { PLAYGROUND_HTML } from "./playground_page.ts";
 * console.assert(PLAYGROUND_HTML.startsWith("<!doctype html>") && PLAYGROUND_HTML.includes('id="run"'));
 * ```
 */
export const PLAYGROUND_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgepod dev API playground</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; max-width: 860px; margin: 2rem auto; padding: 0 1rem; color: #1d1d1f; }
  h1 { font-size: 1.4rem; margin-bottom: .2rem; }
  p.hint { color: #555; margin-top: 0; }
  textarea { width: 100%; min-height: 9rem; font: 14px/1.4 ui-monospace, monospace; box-sizing: border-box; }
  button { font: inherit; padding: .4rem 1rem; margin: .5rem .4rem .5rem 0; cursor: pointer; }
  button:disabled { cursor: default; opacity: .5; }
  .row { display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap; }
  #status { font-weight: 600; padding: .1rem .5rem; border-radius: 4px; background: #eee; }
  #status[data-status="COMPLETED"] { background: #d4f5d4; }
  #status[data-status="FAILED"], #status[data-status="TIMED_OUT"] { background: #fbd5d5; }
  #status[data-status="CANCELLED"] { background: #fde9c4; }
  ol#chunks { font: 13px/1.4 ui-monospace, monospace; max-height: 18rem; overflow: auto; background: #fafafa; border: 1px solid #ddd; padding: .5rem 2.5rem; }
  pre { background: #fafafa; border: 1px solid #ddd; padding: .6rem; overflow: auto; white-space: pre-wrap; }
  .error { color: #b00020; }
</style>
</head>
<body>
<h1>edgepod dev API playground</h1>
<p class="hint">Paste the job's <code>input</code> as JSON (the whole <code>{"input": ...}</code> body works too), then run it.
Streamed chunks appear as the handler yields them.</p>
<label for="input">Input JSON</label>
<textarea id="input" spellcheck="false">{"prompt": "hello"}</textarea>
<div class="row">
  <button id="run">Run</button>
  <button id="runsync">Run sync</button>
  <button id="cancel" disabled>Cancel</button>
  <span>Job <code id="job-id">-</code></span>
  <span>Status <span id="status" data-status="">-</span></span>
</div>
<p id="message" class="error"></p>
<h2>Streamed chunks <small id="chunk-count">(0)</small></h2>
<ol id="chunks"></ol>
<h2>Result</h2>
<pre id="result">-</pre>
<script>
(() => {
  const base = "/v2/local";
  const terminal = ["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"];
  const $ = (id) => document.getElementById(id);
  let current = null;
  /** Cancel was pressed before the job had an id (a runsync still waiting): cancel on arrival. */
  let cancelAsked = false;

  const setStatus = (status) => {
    $("status").textContent = status;
    $("status").dataset.status = status;
  };
  const call = async (method, path, body) => {
    const res = await fetch(base + path, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({ error: "the answer was not JSON" }));
    if (!res.ok) throw new Error(data.error || ("HTTP " + res.status));
    return data;
  };
  const readBody = () => {
    let value;
    try {
      value = JSON.parse($("input").value);
    } catch (error) {
      throw new Error("The input is not valid JSON: " + error.message);
    }
    const whole = value !== null && typeof value === "object" && !Array.isArray(value) && "input" in value;
    return whole ? value : { input: value };
  };
  const busy = (running) => {
    $("run").disabled = running;
    $("runsync").disabled = running;
    $("cancel").disabled = !running;
  };
  const show = (data) => {
    const { stream, ...rest } = data;
    $("result").textContent = JSON.stringify(rest, null, 2);
  };
  const addChunks = (stream) => {
    for (const chunk of stream) {
      const li = document.createElement("li");
      li.textContent = JSON.stringify(chunk.output);
      $("chunks").append(li);
    }
    $("chunk-count").textContent = "(" + $("chunks").children.length + ")";
  };
  const follow = async (id) => {
    while (current === id) {
      const data = await call("GET", "/stream/" + encodeURIComponent(id));
      addChunks(data.stream);
      setStatus(data.status);
      if (terminal.includes(data.status)) break;
    }
    if (current !== id) return;
    show(await call("GET", "/status/" + encodeURIComponent(id)));
  };
  const start = async (sync) => {
    $("message").textContent = "";
    $("chunks").replaceChildren();
    $("chunk-count").textContent = "(0)";
    $("result").textContent = "-";
    let body;
    try {
      body = readBody();
    } catch (error) {
      $("message").textContent = error.message;
      return;
    }
    current = null;
    cancelAsked = false;
    busy(true);
    setStatus("SUBMITTING");
    try {
      const data = await call("POST", sync ? "/runsync?wait=1000" : "/run", body);
      current = data.id;
      $("job-id").textContent = data.id;
      setStatus(data.status);
      if (cancelAsked && !terminal.includes(data.status)) await cancel();
      await follow(data.id);
    } catch (error) {
      $("message").textContent = error.message;
    } finally {
      busy(false);
    }
  };
  $("run").addEventListener("click", () => start(false));
  $("runsync").addEventListener("click", () => start(true));
  const cancel = async () => {
    try {
      const data = await call("POST", "/cancel/" + encodeURIComponent(current), {});
      $("message").textContent = "";
      setStatus(data.status);
    } catch (error) {
      $("message").textContent = error.message;
    }
  };
  $("cancel").addEventListener("click", () => {
    if (current) return cancel();
    cancelAsked = true; // the submission has no answer yet
    $("message").textContent = "Cancelling once the job has an id...";
  });
})();
</script>
</body>
</html>
`;
