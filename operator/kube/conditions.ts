/**
 * metav1.Condition helpers, after cert-manager's pkg/api/util/conditions.go: setting a condition
 * keeps its lastTransitionTime when the status does not change, and always records the
 * observedGeneration it was computed from.
 */

/** metav1.Condition. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  /** CamelCase machine-readable reason. */
  reason: string;
  message: string;
  /** RFC 3339, second precision (what the API server stores). */
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** The RFC 3339 second-precision timestamp the API server stores for `date`. */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Returns `conditions` with `next` set (replacing the one of the same type, order kept, new
 * types appended). lastTransitionTime is the old one when status is unchanged, else `now`.
 * Pure: the input array is not modified.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: Omit<Condition, 'lastTransitionTime'>,
  now: Date,
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const old = i >= 0 ? list[i] : undefined;
  const lastTransitionTime = old && old.status === next.status ? old.lastTransitionTime : rfc3339(now);
  const cond: Condition = { ...next, lastTransitionTime };
  if (i >= 0) list[i] = cond;
  else list.push(cond);
  return list;
}

/** The condition of `type`, if present. */
export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
