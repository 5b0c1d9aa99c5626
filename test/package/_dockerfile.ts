/**
 * Runs a Dockerfile's own lines without Docker: these machines cannot pull base images, so each
 * stage becomes a scratch folder standing for its file system, and the `COPY`, `ENV` and `RUN`
 * lines run there verbatim with the machine's node, npm, deno and bun standing in for the
 * images'. `USER` is noted and not applied. The last stage's `CMD` is returned for the caller to
 * run.
 *
 * @module
 */

import { cp, mkdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import process from "node:process";
import { repoRoot } from "../support/runtime.ts";
import { runOk } from "./_support.ts";

/** One instruction, continuation lines joined. */
export interface Instruction {
  keyword: string;
  args: string;
}

/**
 * Parses a Dockerfile into instructions (comments and blank lines dropped, `\` continuations
 * joined).
 *
 * @param text The Dockerfile.
 * @returns Its instructions in order.
 */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (pending === "" && (line === "" || line.startsWith("#"))) continue;
    if (line.endsWith("\\")) {
      pending += line.slice(0, -1) + " ";
      continue;
    }
    const full = pending + line;
    pending = "";
    const match = /^(\S+)\s+(.*)$/.exec(full);
    if (!match) throw new TypeError(`Unreadable Dockerfile line: ${full}`);
    out.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim() });
  }
  return out;
}

/** A stage as it was run. */
export interface Stage {
  /** The `FROM` image. */
  image: string;
  /** The `AS` name, if any. */
  name?: string;
  /** The folder standing for the stage's `/`. */
  root: string;
  /** The working directory, as a container path. */
  workdir: string;
  /** `ENV` variables, container paths as written. */
  env: Record<string, string>;
  /** The last `USER`, if any (not applied here). */
  user?: string;
  /** `CMD` in exec form, if any. */
  cmd?: string[];
}

/**
 * A container path inside a stage's scratch root.
 *
 * @param stage The stage.
 * @param path An absolute container path, or one relative to the working directory.
 * @returns The path on this machine.
 */
export function hostPath(stage: Stage, path: string): string {
  const absolute = path.startsWith("/") ? path : join(stage.workdir, path);
  return join(stage.root, absolute);
}

/** Options for {@linkcode runDockerfile}. */
export interface RunDockerfileOptions {
  /** The build context (what `COPY` reads). */
  context: string;
  /** Where the stages' scratch roots go. */
  scratch: string;
  /** Environment for every `RUN` (besides the stage's `ENV`). */
  env?: Record<string, string>;
  /** Maps an image's variables such as `DENO_DIR` that its `RUN` and `CMD` lines rely on. */
  imageEnv?: (image: string, stage: Stage) => Record<string, string>;
}

/**
 * Runs every stage's `WORKDIR`, `COPY`, `ENV` and `RUN` lines in scratch folders.
 *
 * @param text The Dockerfile.
 * @param options Context, scratch folder, environment.
 * @returns The stages, the last one holding the `CMD`.
 */
export async function runDockerfile(text: string, options: RunDockerfileOptions): Promise<Stage[]> {
  const stages: Stage[] = [];
  let stage: Stage | undefined;
  for (const { keyword, args } of parseDockerfile(text)) {
    if (keyword === "FROM") {
      const [image, as, name] = args.split(/\s+/);
      const root = join(options.scratch, `stage-${stages.length}`);
      await mkdir(root, { recursive: true });
      stage = {
        image: image!,
        name: as?.toUpperCase() === "AS" ? name : undefined,
        root,
        workdir: "/",
        env: {},
      };
      stage.env = { ...options.imageEnv?.(image!, stage) };
      stages.push(stage);
      continue;
    }
    if (!stage) throw new TypeError(`${keyword} before FROM`);
    switch (keyword) {
      case "WORKDIR":
        stage.workdir = args.startsWith("/") ? args : join(stage.workdir, args);
        await mkdir(hostPath(stage, "."), { recursive: true });
        break;
      case "ENV":
        for (const pair of args.split(/\s+/)) {
          const eq = pair.indexOf("=");
          if (eq < 1) throw new TypeError(`ENV expects KEY=value: ${args}`);
          stage.env[pair.slice(0, eq)] = pair.slice(eq + 1);
        }
        break;
      case "USER":
        stage.user = args;
        break;
      case "COPY":
        await copy(stage, stages, args, options.context);
        break;
      case "RUN":
        await runOk(["sh", "-c", args], {
          cwd: hostPath(stage, "."),
          env: { ...options.env, ...stageEnv(stage) },
          timeoutMs: 300_000,
        });
        break;
      case "CMD":
        stage.cmd = JSON.parse(args) as string[];
        if (!Array.isArray(stage.cmd)) throw new TypeError(`CMD must be in exec form: ${args}`);
        break;
      default:
        throw new TypeError(`This runner does not know ${keyword}`);
    }
  }
  return stages;
}

/**
 * The stage's `ENV` for a process here: values that are container paths are mapped into the
 * stage's scratch root; node's own folder leads `PATH` (npm and npx live beside it), and the
 * repository's deno and bun close it.
 *
 * @param stage The stage.
 * @returns The environment.
 */
export function stageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(stage.env)) {
    env[key] = value.startsWith("/") ? hostPath(stage, value) : value;
  }
  env.PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ""}:${
    join(repoRoot, "node_modules", ".bin")
  }`;
  return env;
}

async function copy(stage: Stage, stages: Stage[], args: string, context: string): Promise<void> {
  const words = args.split(/\s+/);
  let from: Stage | undefined;
  if (words[0]!.startsWith("--from=")) {
    const name = words.shift()!.slice("--from=".length);
    from = stages.find((s) => s.name === name);
    if (!from) throw new TypeError(`COPY --from=${name}: no such stage`);
  }
  const dest = words.pop()!;
  const toDir = dest.endsWith("/") || words.length > 1;
  for (const src of words) {
    const source = from ? hostPath(from, src) : join(context, src);
    const target = toDir ? join(hostPath(stage, dest), basename(src)) : hostPath(stage, dest);
    await mkdir(dirname(target), { recursive: true });
    await cp(source, target, { recursive: true });
  }
}
