/**
 * HTTP status lists as health checks take them (HAProxy's `http-check expect status`, Envoy's
 * expected_statuses): codes and inclusive ranges, comma-separated, e.g. `200-399` or `200,204,403`.
 */

/** Inclusive [first, last] status ranges. */
export type StatusRanges = readonly (readonly [number, number])[];

const PART = /^([1-5]\d\d)(?:-([1-5]\d\d))?$/;

/** The ranges `spec` lists, or a message saying what is wrong with it. */
export function parseStatusRanges(spec: string): StatusRanges | string {
  if (spec.length > 64) return 'must be at most 64 characters';
  const out: (readonly [number, number])[] = [];
  for (const part of spec.split(',')) {
    const m = PART.exec(part);
    if (!m) return `"${part}" is not a status (100-599) or a range of two (e.g. 200-399)`;
    const first = Number(m[1]);
    const last = Number(m[2] ?? m[1]);
    if (last < first) return `"${part}" ends before it starts`;
    out.push([first, last]);
  }
  return out;
}

/** True when `status` is in one of `ranges`. */
export function inRanges(ranges: StatusRanges, status: number): boolean {
  for (const [first, last] of ranges) if (status >= first && status <= last) return true;
  return false;
}
