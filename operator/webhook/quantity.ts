/**
 * Kubernetes resource quantities ("250m", "64Mi", "1.5", "1e3"), parsed far enough to validate
 * annotation values and compare a request with its limit before the API server rejects the pod
 * with a less helpful message. Grammar: k8s.io/apimachinery/pkg/api/resource/quantity.go.
 */

const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const QUANTITY =
  /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:([eE][+-]?[0-9]+)|(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei))?$/;

/**
 * Returns the quantity's value in base units (cores, bytes), or undefined if `text` is not a
 * valid Kubernetes quantity. Negative values parse; callers decide whether they make sense.
 */
export function parseQuantity(text: string): number | undefined {
  const m = QUANTITY.exec(text.trim() === text ? text : '');
  if (!m) return undefined;
  const base = Number(m[1]);
  if (m[2] !== undefined) return base * 10 ** Number(m[2].slice(1));
  return base * (SUFFIX[m[3] ?? ''] ?? 1);
}
