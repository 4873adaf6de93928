/**
 * Store credentials: reading the keys out of an ObjectStore's Secret, and the JSON the sidecar
 * reads from `<store>.credentials.json`. Pure.
 *
 * Accepted Secret keys (first pair found wins):
 *   accessKeyId / secretAccessKey [/ sessionToken]                       (Sluice's own names)
 *   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY [/ AWS_SESSION_TOKEN]      (the AWS CLI's env names)
 */
import type { Secret } from './types.ts';

/** Keys the sidecar signs with: the content of `<store>.credentials.json`. */
export interface StoreCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Result of reading a store's Secret: the keys, or why they cannot be used. */
export type CredentialsLookup =
  | { ok: true; credentials: StoreCredentials }
  /** CredentialsPending: the Secret's watch has not listed it yet; it may well exist. */
  | { ok: false; reason: 'CredentialsMissing' | 'CredentialsPending'; message: string };

const KEY_PAIRS = [
  ['accessKeyId', 'secretAccessKey', 'sessionToken'],
  ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'],
] as const;

function decode(data: Record<string, string>, key: string): string | undefined {
  const v = data[key];
  if (v === undefined) return undefined;
  const s = Buffer.from(v, 'base64').toString('utf8').trim();
  return s === '' ? undefined : s;
}

/** Reads the credentials from `secret` (undefined = not found); see the module comment. */
export function readStoreCredentials(
  secret: Secret | undefined,
  ref: { namespace: string; name: string },
): CredentialsLookup {
  if (!secret) {
    return {
      ok: false,
      reason: 'CredentialsMissing',
      message: `Secret ${ref.namespace}/${ref.name} not found`,
    };
  }
  const data = secret.data ?? {};
  for (const [idKey, secretKey, tokenKey] of KEY_PAIRS) {
    const accessKeyId = decode(data, idKey);
    const secretAccessKey = decode(data, secretKey);
    if (accessKeyId && secretAccessKey) {
      const sessionToken = decode(data, tokenKey);
      return {
        ok: true,
        credentials: sessionToken
          ? { accessKeyId, secretAccessKey, sessionToken }
          : { accessKeyId, secretAccessKey },
      };
    }
  }
  return {
    ok: false,
    reason: 'CredentialsMissing',
    message: `Secret ${ref.namespace}/${ref.name} has neither accessKeyId/secretAccessKey nor AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY`,
  };
}

/** The exact bytes written to `<store>.credentials.json` (stable key order). */
export function credentialsFileContent(c: StoreCredentials): string {
  const out: StoreCredentials = { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey };
  if (c.sessionToken) out.sessionToken = c.sessionToken;
  return JSON.stringify(out) + '\n';
}
