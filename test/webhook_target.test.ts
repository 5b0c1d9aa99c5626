// Where a job's webhook may point: the always-on refusals, the allowlist, resolved names, and
// redirects.

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfig } from "../src/config.ts";
import { parseSubmission } from "../src/push/push_submission.ts";
import { RunPodLogger } from "../src/run_pod_logger.ts";
import { postWebhook } from "../src/worker/post_webhook.ts";
import {
  parseWebhookHosts,
  resolvedWebhookRefusal,
  webhookHostEntry,
  webhookRefusal,
} from "../src/worker/webhook_target.ts";
import { currentRuntime, runtimeName } from "./support/runtime.ts";
import { webhookReceiver } from "./support/webhook_receiver.ts";

test("webhookRefusal() refuses metadata, link-local, unspecified, multicast and reserved hosts in every spelling", () => {
  const refused: [string, RegExp][] = [
    ["http://169.254.169.254/latest/meta-data/", /link-local/],
    ["http://2852039166/", /169\.254\.169\.254 is a link-local/], // one number
    ["http://0xa9.0xfe.0xa9.0xfe/", /169\.254\.169\.254/], // hex octets
    ["http://0251.0376.0251.0376/", /169\.254\.169\.254/], // octal octets
    ["http://[::ffff:169.254.169.254]/", /link-local/], // IPv4-mapped
    ["http://[::169.254.1.1]/", /link-local/], // IPv4-compatible
    ["http://[fe80::1]:8080/", /link-local/],
    ["http://[fd00:ec2::254]/", /cloud metadata address/],
    ["http://metadata.google.internal/computeMetadata/v1/", /cloud metadata service/],
    ["http://METADATA.Google.Internal./", /cloud metadata service/], // case and trailing dot
    ["http://metadata.goog/", /cloud metadata service/],
    ["http://0.0.0.0:9000/", /unspecified/],
    ["http://0/", /unspecified/],
    ["http://[::]/", /unspecified/],
    ["http://224.0.0.251/", /multicast/],
    ["http://[ff02::1]/", /multicast/],
    ["http://255.255.255.255/", /broadcast/],
    ["http://240.0.0.1/", /reserved/],
    // IPv4 reached through a translator or tunnel: NAT64, local-use NAT64, translated, 6to4.
    ["http://[64:ff9b::a9fe:a9fe]/", /link-local/],
    ["http://[64:ff9b::169.254.169.254]/", /link-local/],
    ["http://[64:ff9b:1::a9fe:a9fe]/", /link-local/],
    ["http://[::ffff:0:a9fe:a9fe]/", /link-local/],
    ["http://[2002:a9fe:a9fe::]/", /link-local/],
    // Metadata services outside link-local, and their short names.
    ["http://100.100.100.200/latest/meta-data/", /cloud metadata address/], // Alibaba Cloud
    ["http://192.0.0.192/", /cloud metadata address/], // Oracle Cloud (legacy)
    ["http://168.63.129.16/", /cloud metadata address/], // Azure WireServer
    ["http://[64:ff9b::6464:64c8]/", /cloud metadata address/], // 100.100.100.200 via NAT64
    ["http://metadata/computeMetadata/v1/", /cloud metadata service/],
    ["http://instance-data/latest/", /cloud metadata service/],
    ["http://metadata.google.internal../", /cloud metadata service/],
  ];
  for (const [url, why] of refused) {
    const refusal = webhookRefusal(url);
    assert.ok(refusal !== undefined, `${url} was allowed`);
    assert.match(refusal, why, url);
  }
});

test("webhookRefusal() lets ordinary, private and loopback receivers through without an allowlist", () => {
  for (
    const url of [
      "https://hooks.example.com/runpod",
      "http://127.0.0.1:9000/hook",
      "http://localhost:3000/",
      "http://[::1]:8080/",
      "http://10.0.0.5/",
      "http://192.168.1.20/",
      "http://172.16.0.1/",
      "http://[fd12:3456::1]/",
      "http://[2001:db8::1]/",
      "http://169.253.255.255/",
      "http://223.255.255.255/",
      "http://[64:ff9b::a00:7]/", // 10.0.0.7 through NAT64
      "http://[2002:a00:7::1]/", // 10.0.0.7's 6to4 network
      "http://metadata.example.com/",
    ]
  ) assert.equal(webhookRefusal(url), undefined, url);
});

test("webhookRefusal() with an allowlist admits exactly its hosts and suffixes", () => {
  const hosts = ["hooks.example.com", ".internal.example", "10.0.0.5", "::1"];
  for (
    const url of [
      "https://hooks.example.com/x",
      "https://HOOKS.example.com./x",
      "http://a.internal.example:8080/",
      "http://deep.a.internal.example/",
      "http://10.0.0.5:9/",
      "http://[::1]/",
      "http://[0:0:0:0:0:0:0:1]/",
    ]
  ) assert.equal(webhookRefusal(url, hosts), undefined, url);
  for (
    const url of [
      "https://evil.example/",
      "https://internal.example/", // a suffix admits subdomains, not the apex
      "https://xinternal.example/",
      "https://hooks.example.com.evil.example/",
      "http://10.0.0.6/",
      "http://localhost/",
    ]
  ) {
    assert.match(webhookRefusal(url, hosts) ?? "", /is not among the allowed webhook hosts/, url);
  }
  // Named explicitly, a link-local receiver is the operator's choice.
  assert.equal(webhookRefusal("http://169.254.10.10/", ["169.254.10.10"]), undefined);
});

test("webhookHostEntry() and parseWebhookHosts() normalise entries and refuse URLs, ports, paths and wildcards", () => {
  assert.equal(webhookHostEntry(" Hooks.Example.COM. "), "hooks.example.com");
  assert.equal(webhookHostEntry(".Example.com"), ".example.com");
  assert.equal(webhookHostEntry("[::1]"), "::1");
  assert.equal(webhookHostEntry("0:0::1"), "::1");
  assert.equal(webhookHostEntry("bücher.example"), "xn--bcher-kva.example");
  assert.deepEqual(parseWebhookHosts(" a.example, ,.b.example "), ["a.example", ".b.example"]);
  assert.equal(parseWebhookHosts(""), undefined);
  assert.equal(parseWebhookHosts(undefined), undefined);
  for (
    const bad of [
      "http://a.example",
      "a.example:80",
      "a.example/hook",
      "*.a.example",
      "",
      ".",
      "a b",
      ".::1",
    ]
  ) {
    assert.throws(() => webhookHostEntry(bad), (error: unknown) => {
      assert.ok(error instanceof TypeError, bad);
      assert.match(error.message, /host name .* suffix .* IP address/);
      return true;
    });
  }
  assert.throws(() => parseWebhookHosts("a.example,https://b.example"), TypeError);
});

test("parseConfig() normalises push.webhookHosts and names a bad entry", () => {
  const config = parseConfig({ handler: () => 1, push: { webhookHosts: ["A.example."] } });
  assert.deepEqual(config.push.webhookHosts, ["a.example"]);
  assert.deepEqual(parseConfig({ handler: () => 1 }).push.webhookHosts, []);
  assert.throws(
    () => parseConfig({ handler: () => 1, push: { webhookHosts: ["ok.example", "a.example:1"] } }),
    /'push\.webhookHosts\[1\]': a webhook host must be/,
  );
  assert.throws(
    () => parseConfig({ handler: () => 1, push: { webhookHosts: "a.example" as never } }),
    /push\.webhookHosts/,
  );
});

test("parseSubmission() answers 400 for a webhook it may not call, saying why", () => {
  const json = new Headers({ "content-type": "application/json" });
  const body = (webhook: string) => new TextEncoder().encode(JSON.stringify({ input: 1, webhook }));
  const metadata = parseSubmission(json, body("http://169.254.169.254/latest/"));
  assert.equal(metadata.ok, false);
  assert.ok(!metadata.ok && metadata.status === 400);
  assert.match(
    !metadata.ok ? metadata.message : "",
    /'webhook' .* may not be called: .*link-local/,
  );
  const listed = parseSubmission(json, body("https://other.example/"), {
    webhookHosts: ["hooks.example"],
  });
  assert.match(
    !listed.ok ? listed.message : "",
    /not among the allowed webhook hosts \(hooks\.example\)/,
  );
  const fine = parseSubmission(json, body("https://hooks.example/x"), {
    webhookHosts: ["hooks.example"],
  });
  assert.ok(fine.ok && fine.submission.webhook === "https://hooks.example/x");
  // A Pub/Sub envelope's payload is held to the same rule.
  const data = btoa(JSON.stringify({ input: 1, webhook: "http://[fe80::1]/" }));
  const envelope = new TextEncoder().encode(JSON.stringify({ message: { data, messageId: "m1" } }));
  assert.match((parseSubmission(json, envelope) as { message: string }).message, /link-local/);
});

test("postWebhook() does not follow a redirect: the receiver it points at gets nothing", async () => {
  const runtime = await currentRuntime();
  let followed = 0;
  const elsewhere = await runtime.serve(() => {
    followed++;
    return new Response(null, { status: 204 });
  }, { hostname: "127.0.0.1", port: 0 });
  let asked = 0;
  const redirecting = await runtime.serve(() => {
    asked++;
    return new Response(null, {
      status: 307,
      headers: { location: `http://127.0.0.1:${elsewhere.port}/stolen` },
    });
  }, { hostname: "127.0.0.1", port: 0 });
  const lines: string[] = [];
  const logger = new RunPodLogger({ level: "ERROR", write: (text) => void lines.push(text) });
  try {
    const delivered = await postWebhook(
      `http://127.0.0.1:${redirecting.port}/hook`,
      '{"id":"j","status":"COMPLETED"}',
      { http: runtime.http, log: logger.forJob({ id: "j" }), minDelayMs: 1 },
    );
    logger.flush();
    assert.equal(delivered, false);
    assert.equal(asked, 1, "a redirect is final: no retry");
    assert.equal(followed, 0, "the redirect was followed");
    assert.match(
      lines.join(""),
      /HTTP 307: a redirect \(to http:\/\/127\.0\.0\.1:\d+\/stolen\), which webhooks do not follow/,
    );
  } finally {
    await redirecting.close();
    await elsewhere.close();
  }
});

/** A resolver with fixed answers that records what it was asked. */
function resolver(answers: Record<string, string[]>) {
  const asked: string[] = [];
  const lookup = (name: string) => {
    asked.push(name);
    const found = answers[name];
    return found ? Promise.resolve(found) : Promise.reject(new Error(`ENOTFOUND ${name}`));
  };
  return { asked, lookup };
}

test("resolvedWebhookRefusal() refuses a name when any address it resolves to is refused", async () => {
  const { asked, lookup } = resolver({
    "meta.attacker.example": ["169.254.169.254"],
    "mixed.attacker.example": ["10.0.0.7", "169.254.170.2"],
    "zoned.attacker.example": ["fe80::1%eth0"],
    "mapped.attacker.example": ["::ffff:a9fe:a9fe"],
    "aws6.attacker.example": ["fd00:ec2:0:0:0:0:0:254"],
    "zero.attacker.example": ["0.0.0.0"],
    "ok.example": ["10.0.0.7", "127.0.0.1", "::1", "fd12::1"],
  });
  const refused: [string, RegExp][] = [
    ["meta.attacker.example", /resolves to 169\.254\.169\.254, a link-local address/],
    ["mixed.attacker.example", /resolves to 169\.254\.170\.2, a link-local/],
    ["zoned.attacker.example", /resolves to fe80::1%eth0, a link-local/],
    ["mapped.attacker.example", /resolves to ::ffff:a9fe:a9fe, a link-local/],
    ["aws6.attacker.example", /a cloud metadata address/],
    ["zero.attacker.example", /an unspecified address/],
  ];
  for (const [host, why] of refused) {
    const refusal = await resolvedWebhookRefusal(`http://${host}:8080/hook`, [], lookup);
    assert.match(refusal ?? "allowed", why, host);
    assert.match(refusal!, new RegExp(`^its host ${host.replaceAll(".", "\\.")} resolves to`));
  }
  assert.equal(await resolvedWebhookRefusal("https://OK.example./x", [], lookup), undefined);
  assert.equal(asked.at(-1), "ok.example", "the name is resolved as the URL parser spells it");
  // Address literals were judged as written; an allowlist names the hosts the operator trusts.
  const before = asked.length;
  assert.equal(await resolvedWebhookRefusal("http://10.0.0.1/", [], lookup), undefined);
  assert.equal(await resolvedWebhookRefusal("http://[::1]:9/", [], lookup), undefined);
  assert.equal(
    await resolvedWebhookRefusal(
      "http://meta.attacker.example/",
      ["meta.attacker.example"],
      lookup,
    ),
    undefined,
  );
  assert.equal(asked.length, before, "nothing was resolved");
  await assert.rejects(resolvedWebhookRefusal("http://gone.example/", [], lookup), /ENOTFOUND/);
});

test("the runtime's lookupHost resolves names as its HTTP client does, and rejects unknown names", async () => {
  const runtime = await currentRuntime();
  assert.ok(runtime.lookupHost, `${runtime.name}'s adapter has a resolver`);
  const local = await runtime.lookupHost("localhost") ?? [];
  assert.ok(
    local.some((address) => address === "127.0.0.1" || address === "::1"),
    `localhost resolved to ${local.join(", ")}`,
  );
  assert.deepEqual(await runtime.lookupHost("127.0.0.1"), ["127.0.0.1"]);
  const unknown = runtime.lookupHost("no-such-host.invalid");
  if (runtimeName === "deno" && !denoMayResolve("no-such-host.invalid")) {
    // Deno refuses the lookup itself: the name is judged as written, as Deno's fetch would go.
    assert.equal(await unknown, undefined);
  } else await assert.rejects(unknown, /ENOTFOUND|not found|not known/i);
});

/** Whether this Deno process has net permission for `host` without a port. */
function denoMayResolve(host: string): boolean {
  const deno = (globalThis as {
    Deno?: { permissions: { querySync(p: { name: "net"; host: string }): { state: string } } };
  }).Deno!;
  return deno.permissions.querySync({ name: "net", host }).state === "granted";
}

test("postWebhook() with a resolver: a name that resolves to a refused address gets nothing, at once", async () => {
  const runtime = await currentRuntime();
  await using receiver = await webhookReceiver();
  const lines: string[] = [];
  const logger = new RunPodLogger({ level: "ERROR", write: (text) => void lines.push(text) });
  const body = '{"id":"j","status":"COMPLETED"}';
  const options = { http: runtime.http, log: logger.forJob({ id: "j" }), minDelayMs: 1 };
  // The real resolver: localhost is an allowed receiver, and it gets the body.
  const url = `http://localhost:${receiver.port}/hook`;
  assert.equal(
    await postWebhook(url, body, { ...options, lookupHost: runtime.lookupHost }),
    true,
  );
  assert.equal(receiver.count, 1);
  // The same name answered with a link-local address (a hostile DNS record): refused, no retry.
  const { asked, lookup } = resolver({ localhost: ["169.254.169.254"] });
  assert.equal(await postWebhook(url, body, { ...options, lookupHost: lookup }), false);
  assert.equal(receiver.count, 1, "the receiver was called");
  assert.deepEqual(asked, ["localhost"], "a refusal is final");
  // An allowlist that names the host: not resolved, delivered.
  assert.equal(
    await postWebhook(url, body, { ...options, lookupHost: lookup, hosts: ["localhost"] }),
    true,
  );
  assert.equal(receiver.count, 2);
  // A name that does not resolve is a network failure: retried, then given up.
  const gone = resolver({});
  assert.equal(
    await postWebhook(url, body, { ...options, lookupHost: gone.lookup, maxAttempts: 3 }),
    false,
  );
  assert.equal(gone.asked.length, 3, "each attempt resolves again");
  assert.equal(receiver.count, 2);
  logger.flush();
  const log = lines.join("");
  assert.match(
    log,
    /did not take the result: refused: its host localhost resolves to 169\.254\.169\.254, a link-local address/,
  );
  assert.match(log, /did not take the result: .*DNS lookup failed: Error: ENOTFOUND localhost/);
});

test("postWebhook() logs a failed delivery without the URL's credentials", async () => {
  const runtime = await currentRuntime();
  await using receiver = await webhookReceiver(400);
  const lines: string[] = [];
  const logger = new RunPodLogger({ level: "ERROR", write: (text) => void lines.push(text) });
  const url = `http://hookuser:s3cret-token@127.0.0.1:${receiver.port}/hook`;
  assert.equal(
    await postWebhook(url, "{}", { http: runtime.http, log: logger.forJob({ id: "j" }) }),
    false,
  );
  logger.flush();
  const log = lines.join("");
  assert.match(
    log,
    /Webhook http:\/\/\*\*\*@127\.0\.0\.1:\d+\/hook did not take the result: HTTP 400/,
  );
  assert.doesNotMatch(log, /s3cret-token|hookuser/);
});

test("postWebhook() on Deno: a host outside --allow-net is refused once, not retried", {
  skip: runtimeName !== "deno" && `Deno's net permission only: skipped on ${runtimeName}`,
}, async () => {
  const runtime = await currentRuntime();
  const lines: string[] = [];
  const logger = new RunPodLogger({ level: "ERROR", write: (text) => void lines.push(text) });
  let asked = 0;
  const http: typeof runtime.http = (request) => {
    asked++;
    return runtime.http(request);
  };
  // The suite's Deno has net permission for 127.0.0.1 and localhost only.
  const url = "http://not-permitted.example:8099/hook";
  if (denoMayResolve("not-permitted.example")) return; // run with -A: nothing to refuse
  assert.equal(
    await postWebhook(url, "{}", { http, log: logger.forJob({ id: "j" }), minDelayMs: 1 }),
    false,
  );
  assert.equal(asked, 1, "a permission refusal is final");
  logger.flush();
  assert.match(lines.join(""), /did not take the result: refused by Deno: NotCapable/);
});
