/**
 * Where a job's webhook may point. A submitter names the URL the worker POSTs the result to, so
 * without a rule an authenticated sender could make the worker call its own cloud's metadata
 * service (the classic SSRF prize) or anything else it can reach. Two rules, on Web APIs only:
 *
 * - Always: no link-local, unspecified, multicast or reserved address literals, and not the
 *   cloud metadata names, in any of the spellings a URL parser accepts (`2852039166`,
 *   `0xa9.0xfe.0xa9.0xfe`, `[::ffff:169.254.169.254]` all are `169.254.169.254`).
 * - With an allowlist (`push.webhookHosts` or `EDGEPOD_WEBHOOK_HOSTS`): only the hosts it names,
 *   whatever they resolve to.
 *
 * A host name is checked twice: as written when the job is submitted ({@linkcode webhookRefusal}),
 * and, where the runtime can resolve names, by the addresses it resolves to before each delivery
 * attempt ({@linkcode resolvedWebhookRefusal}), so `hook.attacker.example` pointing at
 * `169.254.169.254` is refused too. The HTTP client resolves the name again when it connects, so
 * a DNS server that answers differently within that moment (DNS rebinding) can still slip past;
 * the allowlist closes that.
 *
 * @module
 */

import type { LookupHost } from "../runtime.ts";

/** The cloud metadata services' host names (their addresses are link-local, refused anyway). */
const METADATA_NAMES = new Set([
  "metadata.google.internal",
  "metadata.goog",
  "metadata", // GCE's short name, through the VM's search domain
  "instance-data", // EC2's name for 169.254.169.254
  "instance-data.ec2.internal",
]);
/** Metadata services outside the link-local range: Alibaba Cloud, Oracle Cloud (legacy), Azure. */
const METADATA_V4 = new Set(["100.100.100.200", "192.0.0.192", "168.63.129.16"]);
/** AWS's IPv6 metadata address, in a unique-local range that private networks also use. */
const AWS_METADATA_V6 = "fd00:ec2::254";
/** The end of every address refusal. */
const NOT_CALLED = "; webhooks may not call such addresses (cloud metadata services live there)";
const IPV4_REGEXP = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Normalises one allowlist entry: lower case, no trailing dot, IPv6 without brackets. An entry
 * is a host name (`hooks.example.com`), a suffix that admits every subdomain
 * (`.example.com`, not the apex itself), an IPv4 address or an IPv6 address (bracketed or not).
 *
 * @param entry The entry as given.
 * @returns The normalised entry.
 * @throws {TypeError} When the entry is not one of those (a URL, a port, a path, a wildcard).
 *
 * @example
 * ```ts
 * import { webhookHostEntry } from "./webhook_target.ts";
 * console.assert(webhookHostEntry(" Hooks.Example.COM. ") === "hooks.example.com");
 * console.assert(webhookHostEntry("[::1]") === "::1");
 * ```
 */
export function webhookHostEntry(entry: string): string {
  if (typeof entry !== "string") {
    throw new TypeError(`a webhook host must be a string: received ${typeof entry}`);
  }
  let host = entry.trim().toLowerCase();
  const suffix = host.startsWith(".");
  if (suffix) host = host.slice(1);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  let canonical: string | undefined;
  if (host.includes(":")) canonical = suffix ? undefined : canonicalIpv6(host);
  else if (host !== "" && !/[/?#@\\%*\s]/.test(host)) {
    try {
      canonical = new URL(`http://${host}/`).hostname; // IDN to punycode, IPv4 spellings to one
      if (canonical.endsWith(".")) canonical = canonical.slice(0, -1);
    } catch {
      canonical = undefined;
    }
  }
  if (canonical === undefined || canonical === "") {
    throw new TypeError(
      `a webhook host must be a host name ("hooks.example.com"), a suffix (".example.com") or an IP address, without scheme, port or path: received ${
        JSON.stringify(entry.slice(0, 100))
      }`,
    );
  }
  return suffix ? `.${canonical}` : canonical;
}

/**
 * Reads a comma-separated allowlist (`EDGEPOD_WEBHOOK_HOSTS`).
 *
 * @param text The variable's value.
 * @returns The normalised entries; `undefined` when the text is empty or unset.
 * @throws {TypeError} When an entry is not a host name, suffix or address.
 *
 * @example
 * ```ts
 * import { parseWebhookHosts } from "./webhook_target.ts";
 * console.assert(parseWebhookHosts("a.example, .b.example")!.join() === "a.example,.b.example");
 * console.assert(parseWebhookHosts("  ") === undefined);
 * ```
 */
export function parseWebhookHosts(text: string | undefined): string[] | undefined {
  if (text === undefined || text.trim() === "") return undefined;
  return text.split(",").filter((part) => part.trim() !== "").map(webhookHostEntry);
}

/**
 * Why a webhook URL may not be called, or `undefined` when it may.
 *
 * @param url An http or https URL (already checked to be one).
 * @param hosts The normalised allowlist ({@linkcode webhookHostEntry}); empty for none.
 * @returns The reason, ready for a 400 answer, or `undefined`.
 *
 * @example
 * ```ts
 * import { webhookRefusal } from "./webhook_target.ts";
 * console.assert(webhookRefusal("http://10.0.0.7:9000/hook") === undefined);
 * console.assert(webhookRefusal("http://169.254.169.254/latest/meta-data/") !== undefined);
 * console.assert(webhookRefusal("https://x.example/h", ["hooks.example"]) !== undefined);
 * ```
 */
export function webhookRefusal(url: string, hosts: readonly string[] = []): string | undefined {
  let host: string;
  try {
    host = hostOf(new URL(url));
  } catch {
    return "it is not a URL";
  }
  if (hosts.length > 0) {
    if (hosts.some((entry) => matches(host, entry))) return undefined;
    return `its host ${JSON.stringify(host)} is not among the allowed webhook hosts (${
      hosts.join(", ")
    })`;
  }
  if (METADATA_NAMES.has(host)) return `its host ${host} is a cloud metadata service`;
  const reserved = reservedAddress(host);
  if (reserved !== undefined) {
    return `its host ${host} is ${reserved}${NOT_CALLED}`;
  }
  return undefined;
}

/**
 * Why a webhook URL may not be called, judged by the addresses its host name resolves to, or
 * `undefined` when it may. Nothing is resolved when an allowlist is set (it names the hosts the
 * operator trusts) or when the host is an address literal ({@linkcode webhookRefusal} judged it).
 *
 * @param url The webhook URL, already passed by {@linkcode webhookRefusal}.
 * @param hosts The normalised allowlist; empty for none.
 * @param lookup The runtime's resolver.
 * @returns The reason, or `undefined`.
 * @throws What `lookup` throws (a name that does not resolve): a network failure to retry.
 *
 * @example
 * ```ts
 * import { resolvedWebhookRefusal } from "./webhook_target.ts";
 * const lookup = (name: string) =>
 *   Promise.resolve(name === "hook.example" ? ["169.254.169.254"] : ["10.0.0.7"]);
 * console.assert(await resolvedWebhookRefusal("http://hook.example/", [], lookup) !== undefined);
 * console.assert(await resolvedWebhookRefusal("http://ok.example/", [], lookup) === undefined);
 * ```
 */
export async function resolvedWebhookRefusal(
  url: string,
  hosts: readonly string[],
  lookup: LookupHost,
): Promise<string | undefined> {
  if (hosts.length > 0) return undefined;
  const host = hostOf(new URL(url));
  if (host.includes(":") || ipv4Octets(host)) return undefined;
  for (const address of await lookup(host) ?? []) {
    const plain = address.split("%")[0]!.toLowerCase(); // fe80::1%eth0: the zone is not the address
    const canonical = plain.includes(":") ? canonicalIpv6(plain) ?? plain : plain;
    const reserved = reservedAddress(canonical);
    if (reserved !== undefined) {
      return `its host ${host} resolves to ${address}, ${reserved}${NOT_CALLED}`;
    }
  }
  return undefined;
}

/** The URL's host, lower case, without brackets or a trailing dot. */
function hostOf(url: URL): string {
  const host = url.hostname.toLowerCase();
  if (host.startsWith("[")) return host.slice(1, -1);
  return host.replace(/\.+$/, "");
}

function matches(host: string, entry: string): boolean {
  return entry.startsWith(".")
    ? host.endsWith(entry) && host.length > entry.length
    : host === entry;
}

/** What kind of reserved address `host` is, or `undefined` (a name, or an ordinary address). */
function reservedAddress(host: string): string | undefined {
  const v4 = ipv4Octets(host);
  if (v4) return reservedIpv4(v4);
  if (!host.includes(":")) return undefined;
  const groups = ipv6Groups(host);
  if (!groups) return undefined;
  if (host === AWS_METADATA_V6) return "a cloud metadata address";
  if (groups.every((g) => g === 0)) return "the unspecified address";
  if ((groups[0]! & 0xffc0) === 0xfe80) return "a link-local address";
  if ((groups[0]! & 0xff00) === 0xff00) return "a multicast address";
  const embedded = embeddedIpv4(groups);
  return embedded ? reservedIpv4(embedded) : undefined;
}

/**
 * The IPv4 address an IPv6 address carries where a translator or tunnel reaches it: mapped
 * (`::ffff:a.b.c.d`), compatible (`::a.b.c.d`), translated (`::ffff:0:a.b.c.d`), NAT64's
 * well-known and local-use prefixes (`64:ff9b::a.b.c.d`, `64:ff9b:1::/48` with the address last)
 * and 6to4 (`2002:AABB:CCDD::/48`).
 */
function embeddedIpv4(groups: number[]): number[] | undefined {
  const octets = (hi: number, lo: number) => [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff];
  const zero = (from: number, to: number) => groups.slice(from, to).every((g) => g === 0);
  const [hi, lo] = [groups[6]!, groups[7]!];
  if (zero(0, 5) && groups[5] === 0xffff) return octets(hi, lo);
  if (zero(0, 6)) return hi === 0 ? undefined : octets(hi, lo); // ::1 and friends are not
  if (zero(0, 4) && groups[4] === 0xffff && groups[5] === 0) return octets(hi, lo);
  if (groups[0] === 0x64 && groups[1] === 0xff9b && (zero(2, 6) || groups[2] === 1)) {
    return octets(hi, lo);
  }
  if (groups[0] === 0x2002) return octets(groups[1]!, groups[2]!);
  return undefined;
}

function reservedIpv4(octets: number[]): string | undefined {
  const [a, b] = octets;
  if (METADATA_V4.has(octets.join("."))) return "a cloud metadata address";
  if (a === 0) return "an unspecified address";
  if (a === 169 && b === 254) return "a link-local address";
  if (a! >= 224 && a! <= 239) return "a multicast address";
  if (a! >= 240) return "a reserved or broadcast address";
  return undefined;
}

function ipv4Octets(host: string): number[] | undefined {
  const match = IPV4_REGEXP.exec(host);
  if (!match) return undefined;
  const octets = match.slice(1).map(Number);
  return octets.every((octet) => octet <= 255) ? octets : undefined;
}

/** An IPv6 literal in the URL parser's canonical spelling (RFC 5952), or `undefined`. */
function canonicalIpv6(text: string): string | undefined {
  try {
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

/** The eight 16-bit groups of a canonical IPv6 literal, or `undefined` when it is not one. */
function ipv6Groups(canonical: string): number[] | undefined {
  const halves = canonical.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const fill = halves.length === 2 ? 8 - head.length - rest.length : 0;
  if (fill < 0 || head.length + rest.length + fill !== 8) return undefined;
  const groups = [...head, ...Array<string>(fill).fill("0"), ...rest].map((g) => parseInt(g, 16));
  return groups.some(Number.isNaN) ? undefined : groups;
}
