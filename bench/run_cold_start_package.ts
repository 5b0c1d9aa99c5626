/**
 * `npm run bench:package`: cold start measured from the package as users install it, not from the
 * repository. Packs the repository (`npm pack`), installs the tarball into a scratch project, and
 * times each way of running a worker there from just before the spawn to the simulator's first
 * job-take: `bun worker.ts`, `bun build --compile` binaries (with and without `--bytecode`), `deno run --allow-env
 * --allow-net=127.0.0.1 worker.ts`, `node worker.mjs`, and `node --import tsx worker.ts` for
 * reference. The repository's bare `fetch` loops are the floor. Probe runs split each start into
 * the runtime's own boot, importing edgepod, and `start()` to the first take; single-import
 * probes time edgepod's dependencies alone.
 *
 * Writes its section, `package-cold-start`, into `BENCHMARKS.md` (`_sections.ts`: the full
 * `npm run bench` report keeps it). Options: `--runs N` (default 15),
 * `--warmups N` (default 2), `--out <file>`.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { SIM_CPU, WORKER_CPU } from "./_context.ts";
import {
  type BenchProcess,
  commandLine,
  EXECUTABLES,
  killAll,
  REPO,
  spawnPinned,
  stopProcess,
  tail,
  unlessExited,
} from "./_processes.ts";
import { spliceSection } from "./_sections.ts";
import { SimClient } from "./_sim_client.ts";
import { epochNow, fmt, median } from "./_stats.ts";

/** The name of this script's section in BENCHMARKS.md (see `_sections.ts`). */
export const PACKAGE_SECTION = "package-cold-start";

const WORKER_TS =
  `import { type Job, start } from "edgepod";\n\nstart({ handler: (job: Job) => job.input });\n`;
const WORKER_JS = `import { start } from "edgepod";\n\nstart({ handler: (job) => job.input });\n`;
/** Notes the time of its first line and after importing edgepod (epoch ms) on stderr. */
const PROBE = `const first = performance.timeOrigin + performance.now();
const edgepod = await import("edgepod");
const imported = performance.timeOrigin + performance.now();
console.error(\`probe \${first} \${imported}\`);
edgepod.start({ handler: (job) => job.input });
`;
/** Times importing one module alone, then exits. */
const importProbe = (specifier: string) =>
  `const first = performance.timeOrigin + performance.now();
await import(${JSON.stringify(specifier)});
const imported = performance.timeOrigin + performance.now();
console.error(\`probe \${first} \${imported}\`);
`;

type Kind = "worker" | "probe" | "bare" | "import";

interface Case {
  /** The report's name for it. */
  name: string;
  kind: Kind;
  /** The runtime (for grouping). */
  runtime:
    | "bun"
    | "bun binary"
    | "bun binary (no bytecode)"
    | "deno"
    | "node"
    | "node (unbundled)"
    | "node (tsx)";
  argv: (project: string, tmp: string) => string[];
  /** For `import` probes: the module. */
  module?: string;
  /** The aim, in ms, for `worker` rows. */
  aim?: number;
}

interface Row extends Case {
  /** Spawn to first take (worker, probe, bare) or to exit (import), ms. */
  samples: number[];
  /** CPU time of all the process's threads when the first take had arrived, ms. */
  cpu: number[];
  /** Probe splits, ms: spawn → first line, first line → imported, imported → first take. */
  boot: number[];
  importing: number[];
  rest: number[];
  error?: string;
}

const deno = (script: string) => (project: string) => [
  EXECUTABLES.deno,
  "run",
  "--quiet",
  "--allow-env",
  "--allow-net=127.0.0.1",
  join(project, script),
];

const CASES: Case[] = [
  {
    name: "Bun: `bun worker.ts`",
    kind: "worker",
    runtime: "bun",
    argv: () => [EXECUTABLES.bun, "worker.ts"],
    aim: 30,
  },
  {
    name: "Bun binary: `bun build --compile --bytecode --format=esm worker.ts`",
    kind: "worker",
    runtime: "bun binary",
    argv: (p) => [join(p, "worker-bc")],
    aim: 30,
  },
  {
    name: "Bun binary without bytecode: `bun build --compile worker.ts`",
    kind: "worker",
    runtime: "bun binary (no bytecode)",
    argv: (p) => [join(p, "worker-bin")],
  },
  {
    name: "Deno: `deno run --allow-env --allow-net=127.0.0.1 worker.ts`",
    kind: "worker",
    runtime: "deno",
    argv: deno("worker.ts"),
    aim: 60,
  },
  {
    name: "Node: `node worker.mjs`",
    kind: "worker",
    runtime: "node",
    argv: () => [EXECUTABLES.node, "worker.mjs"],
    aim: 150,
  },
  {
    name: "diagnostic: Node, the repository's unbundled `dist/adapters/auto.js`",
    kind: "worker",
    runtime: "node (unbundled)",
    argv: () => [EXECUTABLES.node, "worker_unbundled.mjs"],
  },
  {
    name: "Node + tsx: `node --import tsx worker.ts`",
    kind: "worker",
    runtime: "node (tsx)",
    argv: () => [EXECUTABLES.node, "--import", "tsx", "worker.ts"],
  },
  { name: "bun probe", kind: "probe", runtime: "bun", argv: () => [EXECUTABLES.bun, "probe.ts"] },
  {
    name: "bun binary probe",
    kind: "probe",
    runtime: "bun binary",
    argv: (p) => [join(p, "probe-bc")],
  },
  { name: "deno probe", kind: "probe", runtime: "deno", argv: deno("probe.ts") },
  {
    name: "node probe",
    kind: "probe",
    runtime: "node",
    argv: () => [EXECUTABLES.node, "probe.mjs"],
  },
  ...(["bun", "deno", "node"] as const).map((runtime): Case => ({
    name: `${runtime} bare loop`,
    kind: "bare",
    runtime,
    argv: (_p, tmp) => commandLine({ runtime, script: "bare_loop" }, tmp),
  })),
  ...(["bun", "deno", "node"] as const).flatMap((runtime) =>
    ["valibot", "hono", "@hono/node-server"].map((module): Case => ({
      name: `${runtime} import ${module}`,
      kind: "import",
      runtime,
      module,
      argv: (p) => {
        const file = `import_${module.replace(/\W/g, "_")}.mjs`;
        return runtime === "bun"
          ? [EXECUTABLES.bun, file]
          : runtime === "deno"
          ? [EXECUTABLES.deno, "run", "--quiet", "--allow-env", join(p, file)]
          : [EXECUTABLES.node, file];
      },
    }))
  ),
];

function parseArgs(argv: string[]) {
  let runs = 15;
  let warmups = 2;
  let out = join(REPO, "BENCHMARKS.md");
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = () => {
      const value = argv[++i];
      if (value === undefined) throw new TypeError(`${arg} needs a value`);
      return value;
    };
    if (arg === "--runs") runs = Number(next());
    else if (arg === "--warmups") warmups = Number(next());
    else if (arg === "--out") out = next();
    else throw new TypeError(`Unknown option ${arg}; expected --runs, --warmups or --out`);
  }
  if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`--runs must be >= 1: ${runs}`);
  return { runs, warmups, out };
}

function sh(cmd: string, args: string[], cwd: string): void {
  execFileSync(cmd, args, { cwd, stdio: ["ignore", "ignore", "inherit"] });
}

/** Packs the repository and installs the tarball (and tsx) into `<tmp>/project`. */
function installProject(tmp: string): { project: string; tarballBytes: number } {
  sh(process.execPath, ["scripts/build.mjs"], REPO);
  sh("npm", ["pack", "--ignore-scripts", "--pack-destination", tmp], REPO);
  const tarball = readdirSync(tmp).find((f) => /^edgepod-.*\.tgz$/.test(f));
  if (!tarball) throw new Error("npm pack left no tarball");
  const project = join(tmp, "project");
  mkdirSync(project);
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "cold-start", private: true, type: "module" }),
  );
  sh("npm", [
    "install",
    "--prefer-offline",
    "--no-audit",
    "--no-fund",
    join(tmp, tarball),
    "tsx",
  ], project);
  writeFileSync(join(project, "worker.ts"), WORKER_TS);
  writeFileSync(join(project, "worker.mjs"), WORKER_JS);
  const unbundled = new URL("../dist/adapters/auto.js", import.meta.url).href;
  writeFileSync(
    join(project, "worker_unbundled.mjs"),
    WORKER_JS.replace('"edgepod"', `"${unbundled}"`),
  );
  writeFileSync(join(project, "probe.ts"), PROBE);
  writeFileSync(join(project, "probe.mjs"), PROBE);
  for (const module of ["valibot", "hono", "@hono/node-server"]) {
    writeFileSync(join(project, `import_${module.replace(/\W/g, "_")}.mjs`), importProbe(module));
  }
  sh(EXECUTABLES.bun, ["build", "--compile", "worker.ts", "--outfile", "worker-bin"], project);
  for (const [entry, bin] of [["worker.ts", "worker-bc"], ["probe.ts", "probe-bc"]] as const) {
    const flags = ["--compile", "--bytecode", "--format=esm"];
    sh(EXECUTABLES.bun, ["build", ...flags, entry, "--outfile", bin], project);
  }
  return { project, tarballBytes: readFileSync(join(tmp, tarball)).length };
}

let sequence = 0;

function spawnCase(c: Case, project: string, tmp: string, env: Record<string, string>) {
  const base = join(tmp, `${++sequence}-${c.name.replace(/\W+/g, "_")}`);
  return spawnPinned(c.argv(project, tmp), {
    cpu: WORKER_CPU,
    cwd: c.kind === "bare" ? REPO : project,
    env,
    label: c.name,
    stdout: `${base}.out`,
    stderr: `${base}.err`,
  });
}

/**
 * The time on CPU of every live thread of `pid` (`/proc/<pid>/task/<tid>/schedstat`, ns), in ms.
 * Waiting for a CPU does not count, so on a shared machine this is the steadier figure: with all
 * threads pinned to one otherwise idle CPU, spawn → first take would be about this long.
 */
function cpuMs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return ns / 1e6;
}

function probeTimes(proc: BenchProcess): [number, number] {
  const match = /probe ([\d.]+) ([\d.]+)/.exec(readFileSync(proc.stderrPath, "utf8"));
  if (!match) throw new Error(`${proc.label}: no probe line: ${tail(proc.stderrPath)}`);
  return [Number(match[1]), Number(match[2])];
}

async function once(sim: SimClient, row: Row, project: string, tmp: string): Promise<void> {
  if (row.kind === "import") {
    const proc = spawnCase(row, project, tmp, {});
    const code = await proc.exited;
    if (code !== 0) throw new Error(`${row.name} exited ${code}: ${tail(proc.stderrPath)}`);
    const [first, imported] = probeTimes(proc);
    row.samples.push(imported - first);
    return;
  }
  await sim.reset(5000);
  const proc = spawnCase(row, project, tmp, sim.env({ BARE_CONCURRENCY: "1" }));
  try {
    await unlessExited(proc, sim.wait("takes", 1, { timeoutMs: 20_000 }));
    const cpu = cpuMs(proc.pid);
    const take = (await sim.data({ dones: 1e12, pings: 1e12 })).takes[0]!;
    row.samples.push(take - proc.spawnedAt);
    row.cpu.push(cpu);
    if (row.kind === "probe") {
      const [first, imported] = probeTimes(proc);
      row.boot.push(first - proc.spawnedAt);
      row.importing.push(imported - first);
      row.rest.push(take - imported);
    }
  } finally {
    await stopProcess(proc);
  }
}

const cell = (samples: number[]) =>
  samples.length === 0
    ? "—"
    : `${fmt(median(samples))} (${fmt(Math.min(...samples))}–${fmt(Math.max(...samples))})`;

function render(rows: Row[], facts: string[]): string {
  const find = (kind: Kind, runtime: string, module?: string) =>
    rows.find((r) => r.kind === kind && r.runtime === runtime && r.module === module);
  const bareOf = (runtime: string) => find("bare", runtime.replace(/ .*/, ""));
  const lines = [
    "## Cold start from the installed package",
    "",
    "<!-- Generated by `npm run bench:package` (bench/run_cold_start_package.ts). -->",
    "",
    ...facts.map((f) => `- ${f}`),
    "",
    "Method: `npm pack` of the repository, `npm install <tarball> tsx` into a scratch project, " +
    'and a worker there whose handler returns its input (`import { start } from "edgepod"`). ' +
    "From just before the spawn (`taskset -c 1 <command>`, the simulator on CPU 0 as in the " +
    "benchmarks above, production environment with the heartbeat) to the arrival of the first " +
    "job-take. Commands run round robin after unmeasured warm-up rounds (Deno's and Bun's " +
    "transpile caches, the page cache). The bare loop is the repository's `bench/bare_loop.ts` " +
    "(`dist/` on Node): the runtime's own floor for a first `fetch`. CPU time is the sum over " +
    "the process's threads of their time on a CPU (`/proc/<pid>/task/*/schedstat`) when the " +
    "first take has arrived. It leaves out waiting for a CPU, so on a shared machine it is the " +
    "steadier figure: all threads are pinned to one CPU, so with that CPU to itself the process " +
    "would take about that long.",
    "",
    "| command | spawn → first take ms, median (min–max) | CPU ms at first take, median | bare loop ms, median (min–max) | bare loop CPU ms | edgepod − bare ms (wall / CPU) | aim ms | by wall time | by CPU time |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  const judge = (value: number, aim: number | undefined) =>
    aim === undefined || Number.isNaN(value) ? "—" : value < aim ? "✅ pass" : "❌ over";
  for (const row of rows.filter((r) => r.kind === "worker")) {
    const bare = bareOf(row.runtime);
    const wall = row.samples.length ? median(row.samples) : NaN;
    const cpu = row.cpu.length ? median(row.cpu) : NaN;
    const marks = row.error
      ? `❌ ${row.error.slice(0, 80)} | —`
      : `${judge(wall, row.aim)} | ${judge(cpu, row.aim)}`;
    lines.push(
      `| ${row.name} | ${cell(row.samples)} | ${fmt(cpu)} | ${bare ? cell(bare.samples) : "—"} | ${
        bare?.cpu.length ? fmt(median(bare.cpu)) : "—"
      } | ${
        bare?.cpu.length
          ? `${fmt(wall - median(bare.samples))} / ${fmt(cpu - median(bare.cpu))}`
          : "—"
      } | ${row.aim === undefined ? "—" : `< ${row.aim}`} | ${marks} |`,
    );
  }
  lines.push(
    "",
    "Where the time goes (probe runs of the same worker, median ms): **boot** is spawn → the " +
      "entry module's first line (exec, the runtime's start-up, reading and transpiling the entry); " +
      '**import** is `await import("edgepod")` (edgepod\'s modules and valibot; the runtime adapter ' +
      "loads later, in `start()`); **start → take** is `start()` → the first job-take (the adapter, " +
      "config validation, logger, environment, the first HTTP connection).",
    "",
    "| runtime | boot | import edgepod | start → take | total |",
    "| --- | --- | --- | --- | --- |",
  );
  for (const row of rows.filter((r) => r.kind === "probe")) {
    lines.push(
      `| ${row.runtime} | ${fmt(median(row.boot))} | ${fmt(median(row.importing))} | ${
        fmt(median(row.rest))
      } | ${fmt(median(row.samples))} |`,
    );
  }
  lines.push(
    "",
    "Dependencies imported alone from the same project (first line → import resolved, median ms). " +
      "valibot is imported by `src/config.ts`; Hono only by the simulator (and the HTTP apps); " +
      "`@hono/node-server` only by the Node adapter's `serve()`, loaded on first use.",
    "",
    "| runtime | valibot | hono | @hono/node-server |",
    "| --- | --- | --- | --- |",
  );
  for (const runtime of ["bun", "deno", "node"]) {
    const of = (m: string) => find("import", runtime, m);
    lines.push(
      `| ${runtime} | ${cell(of("valibot")?.samples ?? [])} | ${
        cell(of("hono")?.samples ?? [])
      } | ${cell(of("@hono/node-server")?.samples ?? [])} |`,
    );
  }
  lines.push("", ...reading(rows, find), "");
  return lines.join("\n");
}

/** The prose under the tables: what each runtime spends its start-up on, with this run's figures. */
function reading(
  rows: Row[],
  find: (kind: Kind, runtime: string, module?: string) => Row | undefined,
): string[] {
  const m = (values: number[] | undefined) => (values?.length ? fmt(median(values)) : "—");
  const probe = (runtime: string) => find("probe", runtime);
  const worker = (runtime: string) => find("worker", runtime);
  const bare = (runtime: string) => find("bare", runtime);
  const dep = (runtime: string, module: string) => m(find("import", runtime, module)?.samples);
  const split = (runtime: string) => {
    const p = probe(runtime);
    return `boot ${m(p?.boot)}, import ${m(p?.importing)}, start → take ${m(p?.rest)}`;
  };
  const gain = (slow: Row | undefined, fast: Row | undefined) =>
    slow?.samples.length && fast?.samples.length
      ? fmt(median(slow.samples) - median(fast.samples))
      : "—";
  const loaded = rows.find((r) => r.kind === "bare" && r.runtime === "node");
  return [
    "What each runtime spends its start-up on (this run's medians, ms):",
    "",
    `- **Bun** (${split("bun")}): Bun starts and transpiles \`worker.ts\`; importing edgepod ` +
    `parses its bundle and valibot (${dep("bun", "valibot")} alone); \`start()\` loads the Bun ` +
    "adapter, validates the options and sends the first take over a new connection.",
    `- **Bun binary** (${split("bun binary")}): with \`--bytecode\` the whole bundle is ` +
    "precompiled and loaded before the entry's first line, so importing edgepod costs nothing " +
    "then and boot is the executable's start (it carries the Bun runtime). Without " +
    `\`--bytecode\` the binary parses its embedded source at every start: ${
      gain(worker("bun binary (no bytecode)"), worker("bun binary"))
    } ms more here, which is why the Dockerfile uses it.`,
    `- **Deno** (${split("deno")}): boot is Deno's start, \`worker.ts\` from its transpile ` +
    "cache and resolving the npm packages in `node_modules`. Most of start → take is the first " +
    "`fetch` (Deno sets up its HTTP client then): the bare loop, which does nothing but that " +
    `fetch, takes ${m(bare("deno")?.samples)} ms in all.`,
    `- **Node** (${split("node")}): boot is nearly all Node's own start-up (the bare loop takes ` +
    `${m(loaded?.samples)} ms in all). Importing the bundle is one module plus valibot ` +
    `(${dep("node", "valibot")} alone); the repository's unbundled \`dist/\` (about 60 ` +
    `modules) took ${gain(worker("node (unbundled)"), worker("node"))} ms more end to end. ` +
    "start → take loads the Node adapter (`node:http`, `worker_threads`), validates the options " +
    "and makes the first request. tsx adds its loader and compiles on the fly: " +
    `${gain(worker("node (tsx)"), worker("node"))} ms more than plain JavaScript.`,
    `- **Dependencies**: valibot is needed at every start (\`src/config.ts\`) and is cheap. Hono ` +
    `(${dep("bun", "hono")} / ${dep("deno", "hono")} / ${dep("node", "hono")} ms on ` +
    `Bun / Deno / Node) and \`@hono/node-server\` (${dep("node", "@hono/node-server")} ms on ` +
    "Node) are not imported in pull or local-test mode: the Node adapter loads " +
    "`@hono/node-server` in `serve()`, and the HTTP intakes are loaded with `import()` only in " +
    "their own modes.",
    "",
    "The aims are for a quiet machine. When the bare loops themselves run far above their " +
    "figures in the cold-start section above, the machine was busy and the wall-time marks say " +
    "more about it than about edgepod; edgepod's overhead over the bare loop, and CPU time, " +
    "are the figures to compare then.",
  ];
}

async function main(): Promise<number> {
  const { runs, warmups, out } = parseArgs(process.argv.slice(2));
  execFileSync("taskset", ["-a", "-p", "-c", String(SIM_CPU), String(process.pid)], {
    stdio: "ignore",
  });
  const tmp = mkdtempSync(join(os.tmpdir(), "edgepod-bench-package-"));
  process.on("exit", () => killAll());
  const started = epochNow();
  const loadBefore = os.loadavg().map((l) => l.toFixed(2)).join(", ");
  try {
    console.log("packing and installing the tarball, compiling the Bun binaries");
    const { project, tarballBytes } = installProject(tmp);
    const simProc = spawnPinned(commandLine({ runtime: "bun", script: "sim_server" }, tmp), {
      cpu: SIM_CPU,
      label: "simulator",
      stdout: "pipe",
      stderr: join(tmp, "sim.err"),
    });
    const first = await new Promise<string>((resolve, reject) => {
      createInterface({ input: simProc.child.stdout! }).once("line", resolve);
      simProc.exited.then((code) => reject(new Error(`The simulator exited (${code})`)));
    });
    const sim = new SimClient(`http://127.0.0.1:${(JSON.parse(first) as { port: number }).port}`);
    const rows: Row[] = CASES.map((c) => ({
      ...c,
      samples: [],
      cpu: [],
      boot: [],
      importing: [],
      rest: [],
    }));
    for (let round = 0; round < warmups + runs; round++) {
      console.log(`round ${round + 1}/${warmups + runs}${round < warmups ? " (warm-up)" : ""}`);
      for (const row of rows) {
        if (row.error !== undefined) continue;
        const before = row.samples.length;
        try {
          await once(sim, row, project, tmp);
        } catch (error) {
          row.error = error instanceof Error ? error.message : String(error);
          console.error(`  ${row.name} failed: ${row.error}`);
        }
        if (round < warmups) {
          row.samples.length = before;
          for (const list of [row.cpu, row.boot, row.importing, row.rest]) list.length = before;
        }
      }
    }
    await stopProcess(simProc);
    const version = (exe: string, args: string[]) =>
      execFileSync(exe, args, { encoding: "utf8" }).trim().split("\n")[0];
    const facts = [
      `Measured on ${new Date().toISOString()} in ${
        fmt((epochNow() - started) / 1000, 0)
      } s: ${warmups} warm-up and ${runs} measured rounds; the tarball is ${
        fmt(tarballBytes / 1024, 0)
      } KiB.`,
      `Node ${process.versions.node}, ${version(EXECUTABLES.deno, ["--version"])}, Bun ${
        version(EXECUTABLES.bun, ["--version"])
      }; ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "unknown"}).`,
      `Load average (1, 5, 15 min) before: ${loadBefore}; after: ${
        os.loadavg().map((l) => l.toFixed(2)).join(", ")
      }. The machine is shared, so a busy moment lengthens the maxima.`,
    ];
    const section = render(rows, facts);
    let report = "";
    try {
      report = readFileSync(out, "utf8");
    } catch {
      // A new file.
    }
    writeFileSync(out, spliceSection(report, PACKAGE_SECTION, section));
    console.log(section);
    console.log(`Wrote the section to ${out}`);
    return rows.some((r) => r.error) ? 1 : 0;
  } finally {
    killAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (/run_cold_start_package\.[jt]s$/.test(process.argv[1] ?? "")) {
  process.exitCode = await main();
}
