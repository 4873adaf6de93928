/**
 * When a pod's STS credentials can be reused and when they must be renewed. Pure.
 * The bookkeeping lives in the pod Secret's annotation (./podsecret.ts STS_STATE_ANNOTATION) so
 * that any replica, after any restart, makes the same decision from the API server alone.
 */

/** What the controller remembers about one store's temporary credentials. */
export interface StsEntry {
  accessKeyId: string;
  /** Epoch ms. */
  issuedAt: number;
  expiresAt: number;
  /** Hash of the session policy they were issued for. */
  policyHash: string;
  /** Hash of the store keys that signed the AssumeRole (a rotation invalidates them). */
  sourceHash: string;
}

/** store name → entry. */
export type StsState = Record<string, StsEntry>;

/** Parses the annotation; anything unreadable is treated as "no state" (forces a renewal). */
export function parseStsState(raw: string | undefined): StsState {
  if (!raw) return {};
  try {
    const v = JSON.parse(raw) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
    const out: StsState = {};
    for (const [k, e] of Object.entries(v as Record<string, Partial<StsEntry>>)) {
      if (
        typeof e.accessKeyId === 'string' &&
        typeof e.issuedAt === 'number' &&
        typeof e.expiresAt === 'number' &&
        typeof e.policyHash === 'string' &&
        typeof e.sourceHash === 'string'
      ) {
        out[k] = e as StsEntry;
      }
    }
    return out;
  } catch {
    return {};
  }
}

/** Serialises with sorted keys so an unchanged state is byte-identical. */
export function serializeStsState(state: StsState): string {
  const sorted: StsState = {};
  for (const k of Object.keys(state).sort()) sorted[k] = state[k] as StsEntry;
  return JSON.stringify(sorted);
}

/** When the entry should be renewed: at `fraction` (default 2/3) of its lifetime. */
export function renewAt(entry: StsEntry, fraction = 2 / 3): number {
  return entry.issuedAt + Math.floor((entry.expiresAt - entry.issuedAt) * fraction);
}

/**
 * 'reuse' when the entry was issued for this policy and these store keys and is not yet due
 * for renewal; 'renew' otherwise. A renewal that fails may still fall back on the old
 * credentials while {@link stillValid}.
 */
export function stsDecision(
  entry: StsEntry | undefined,
  want: { policyHash: string; sourceHash: string; now: number; fraction?: number },
): 'reuse' | 'renew' {
  if (!entry) return 'renew';
  if (entry.policyHash !== want.policyHash || entry.sourceHash !== want.sourceHash) return 'renew';
  return want.now < renewAt(entry, want.fraction) ? 'reuse' : 'renew';
}

/** True when the old credentials may still be served after a failed renewal (same policy, a minute left). */
export function stillValid(
  entry: StsEntry | undefined,
  want: { policyHash: string; sourceHash: string; now: number },
): boolean {
  return (
    entry !== undefined &&
    entry.policyHash === want.policyHash &&
    entry.sourceHash === want.sourceHash &&
    want.now < entry.expiresAt - 60_000
  );
}
