/**
 * Zone arithmetic, pure (HAProxy "smart routing"): deliver whenever possible, prefer the local
 * zone, and when it lacks healthy capacity spread the spill-over *evenly* across the other zones
 * rather than doubling one neighbour.
 *
 * The local zone keeps the share of traffic its healthy capacity can carry (healthy / total
 * backends in the zone); the rest is split over the other zones with any eligible backend, in
 * proportion to their own healthy fraction — equal when they are all whole, so two intact
 * neighbours each get half the spill. With no local zone (or no zones at all), one bucket.
 */

/** Capacity of one zone as the pool sees it now. */
export interface ZoneCapacity {
  zone: string;
  /** Backends of the zone that are not draining. */
  total: number;
  /** Of those, backends that may take traffic now. */
  eligible: number;
}

/**
 * Traffic share per zone, summing to 1 over zones with an eligible backend (empty when none
 * has one). `local` undefined or absent from `zones` means no preference: shares by capacity.
 */
export function zoneShares(zones: readonly ZoneCapacity[], local: string | undefined): Map<string, number> {
  const live = zones.filter((z) => z.eligible > 0 && z.total > 0);
  const shares = new Map<string, number>();
  if (live.length === 0) return shares;
  const fraction = (z: ZoneCapacity): number => Math.min(1, z.eligible / z.total);
  const home = local === undefined ? undefined : live.find((z) => z.zone === local);
  const others = live.filter((z) => z !== home);
  const homeShare = home === undefined ? 0 : others.length === 0 ? 1 : fraction(home);
  if (home !== undefined) shares.set(home.zone, homeShare);
  const spill = 1 - homeShare;
  if (spill <= 0) return shares;
  const weightSum = others.reduce((s, z) => s + fraction(z), 0);
  for (const z of others) shares.set(z.zone, (spill * fraction(z)) / weightSum);
  return shares;
}

/** Draws one zone from `shares` with a uniform draw `u` in [0, 1). */
export function drawZone(shares: ReadonlyMap<string, number>, u: number): string | undefined {
  let acc = 0;
  let last: string | undefined;
  for (const [zone, share] of shares) {
    if (share <= 0) continue;
    acc += share;
    last = zone;
    if (u < acc) return zone;
  }
  return last;
}
