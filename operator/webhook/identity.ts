/**
 * Pod identities: the value of IDENTITY_LABEL, naming the pod's policy Secret. Fixed at
 * admission, before a generateName pod has a name or UID, so it must be unguessable and
 * collision-free on its own: 120 random bits, as 24 lowercase base32 characters (RFC 4648
 * alphabet a-z2-7) — a valid label value and DNS label, starting with a letter.
 */
import { randomBytes } from 'node:crypto';

/** Returns a fresh identity on every call. Injected into mutate() so tests can fix it. */
export type IdentitySource = () => string;

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const IDENTITY = /^[a-z][a-z2-7]{23}$/;

/** The production source: node:crypto randomness. */
export const randomIdentity: IdentitySource = () => {
  for (;;) {
    const id = base32(randomBytes(15));
    // A leading digit would still be a valid label, but names read better starting with a
    // letter; rejection keeps the distribution uniform (26 in 32 tries succeed), ~119.7 bits.
    if (IDENTITY.test(id)) return id;
  }
};

/** True when `value` has the shape of an identity this module makes. */
export function isIdentity(value: string): boolean {
  return IDENTITY.test(value);
}

function base32(bytes: Uint8Array): string {
  let bits = 0;
  let acc = 0;
  let out = '';
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}
