/**
 * S3 bucket naming rules (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html):
 * 3–63 characters of lowercase letters, digits, dots and hyphens, starting and ending with a
 * letter or digit, no two adjacent dots, not shaped like an IPv4 address. Anything else is
 * refused before it can be routed or authorized.
 */
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IPV4_RE = /^\d+\.\d+\.\d+\.\d+$/;

/** True when `name` is a valid S3 bucket name. */
export function isValidBucketName(name: string): boolean {
  return BUCKET_RE.test(name) && !name.includes('..') && !IPV4_RE.test(name);
}
