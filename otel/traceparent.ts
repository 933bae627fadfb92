/**
 * W3C Trace Context in a task's meta: `traceparent` (and `tracestate`) written at addTask, read
 * at each attempt. Done here rather than through the global propagator, so the context travels
 * whatever propagator (or none) the application registered.
 */
import { createTraceState, isSpanContextValid, TraceFlags, type SpanContext } from '@opentelemetry/api';

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;

export function inject(span: SpanContext): Record<string, string> | undefined {
  if (!isSpanContextValid(span)) return undefined;
  const flags = (span.traceFlags & TraceFlags.SAMPLED).toString(16).padStart(2, '0');
  const out: Record<string, string> = { traceparent: `00-${span.traceId}-${span.spanId}-${flags}` };
  const state = span.traceState?.serialize();
  if (state !== undefined && state !== '') out.tracestate = state;
  return out;
}

/** The producer's span context from a task's meta, or undefined (absent, malformed, or invalid). */
export function extract(meta: Readonly<Record<string, unknown>> | undefined): SpanContext | undefined {
  const header = meta?.traceparent;
  if (typeof header !== 'string') return undefined;
  const m = TRACEPARENT.exec(header.trim());
  // Version ff is forbidden; a future version may append fields (allowed by the regex), 00 may not.
  if (m === null || m[1] === 'ff' || (m[1] === '00' && header.trim().length !== 55)) return undefined;
  const state = meta?.tracestate;
  const context: SpanContext = {
    traceId: m[2]!,
    spanId: m[3]!,
    traceFlags: parseInt(m[4]!, 16) & TraceFlags.SAMPLED,
    isRemote: true,
    ...(typeof state === 'string' && state !== '' ? { traceState: createTraceState(state) } : {}),
  };
  return isSpanContextValid(context) ? context : undefined;
}
