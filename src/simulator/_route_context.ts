/**
 * What a route handler gets, and the shared fault step.
 *
 * @module
 */

import type { Context } from "hono";
import type { SimulatorCore } from "./_core.ts";
import { droppedResponse, type ResolvedFault, type SimulatorRoute } from "./faults.ts";
import type { RecordedRequest } from "./request_log.ts";

/** One request on its way through a route. */
export interface RouteContext {
  /** The simulator state. */
  readonly core: SimulatorCore;
  /** The Hono context. */
  readonly c: Context;
  /** The raw request. */
  readonly request: Request;
  /** The route. */
  readonly route: SimulatorRoute;
  /** The worker id of the URL. */
  readonly workerId: string;
  /** The job id of the URL (job-done, job-stream), else `""`. */
  readonly jobId: string;
  /** The request record, when recording. */
  readonly record: RecordedRequest | undefined;
  /** The fault scripted for this request, taken when it arrived. */
  readonly fault: ResolvedFault | undefined;
}

/** A route handler. */
export type RouteHandler = (ctx: RouteContext) => Promise<Response>;

/**
 * Applies the request's fault, if any.
 *
 * @returns The faulty response, or `undefined` to go on normally (no fault, or a delay that
 * passed while the client stayed; a client that left during the delay gets a dropped response).
 */
export async function applyFault(ctx: RouteContext): Promise<Response | undefined> {
  const fault = ctx.fault;
  if (fault === undefined) return undefined;
  if (fault.kind === "drop") return droppedResponse();
  if (fault.kind === "respond") return fault.response();
  await ctx.core.delay(fault.ms, ctx.request.signal);
  return ctx.request.signal.aborted ? droppedResponse() : undefined;
}

/** A 204 No Content. */
export function noContent(): Response {
  return new Response(null, { status: 204 });
}

/** A plain-text response. */
export function textResponse(status: number, text: string): Response {
  return new Response(text, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}
