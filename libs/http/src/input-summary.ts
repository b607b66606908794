/**
 * A small, JSON-safe picture of a job's input for its stored record: enough to recognise the
 * request, never the weights themselves. Large arrays keep their length and first items, typed
 * arrays and buffers only their type and length, long strings are cut, deep nesting is elided.
 */
export interface SummaryLimits {
  maxArrayItems: number;
  maxStringLength: number;
  maxKeys: number;
  maxDepth: number;
}

export const DEFAULT_SUMMARY_LIMITS: SummaryLimits = { maxArrayItems: 16, maxStringLength: 256, maxKeys: 64, maxDepth: 6 };

export function summarizeInput(value: unknown, limits: SummaryLimits = DEFAULT_SUMMARY_LIMITS): unknown {
  return summarize(value, limits, 0);
}

function summarize(value: unknown, limits: SummaryLimits, depth: number): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') {
    return value.length <= limits.maxStringLength
      ? value
      : `${value.slice(0, limits.maxStringLength)}… (${value.length} characters)`;
  }
  if (typeof value !== 'object') return undefined; // functions, symbols, undefined
  if (value instanceof Date) return value.toISOString();
  if (ArrayBuffer.isView(value)) {
    const length = 'length' in value && typeof value.length === 'number' ? value.length : value.byteLength;
    return { $summary: value.constructor.name, length };
  }
  if (value instanceof ArrayBuffer) return { $summary: 'ArrayBuffer', byteLength: value.byteLength };
  if (depth >= limits.maxDepth) return { $summary: Array.isArray(value) ? 'array' : 'object', elided: 'too deep' };
  if (Array.isArray(value)) {
    if (value.length <= limits.maxArrayItems) return value.map((v) => summarize(v, limits, depth + 1) ?? null);
    const head = value.slice(0, Math.min(8, limits.maxArrayItems)).map((v) => summarize(v, limits, depth + 1) ?? null);
    return { $summary: 'array', length: value.length, head };
  }
  if (value instanceof Map || value instanceof Set) return { $summary: value.constructor.name, size: value.size };
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto !== null && proto !== Object.prototype) {
    // Streams, class instances: their fields are no description of the request.
    return { $summary: (value as { constructor?: { name?: string } }).constructor?.name ?? 'object' };
  }
  const out: Record<string, unknown> = {};
  const entries = Object.entries(value);
  for (const [key, v] of entries.slice(0, limits.maxKeys)) {
    const s = summarize(v, limits, depth + 1);
    if (s !== undefined) out[key] = s;
  }
  if (entries.length > limits.maxKeys) out['$moreKeys'] = entries.length - limits.maxKeys;
  return out;
}
