/**
 * ListBuckets response filtering. Pure.
 *
 * Decision: ListBuckets is ALLOWED for a pod with at least one grant, forwarded to the store of
 * its first grant, and the response is rewritten to list only the buckets the pod has a grant on
 * in that store (S3 clients such as `aws s3 ls` and rclone start with ListBuckets, so denying it
 * would break them; an unfiltered answer would reveal every bucket of the store). Buckets granted
 * on other stores are not listed (one request reaches one store). The response is small (a few
 * hundred bytes per bucket), so the proxy buffers it, bounded by {@link MAX_LIST_BUCKETS_BYTES},
 * and rewrites it with a fresh Content-Length.
 */

/**
 * ListBuckets' paging parameters, dropped before the request goes to the store: pages of the
 * store's whole bucket list, filtered one by one, would tell by their count and continuation
 * tokens how many buckets the pod cannot see match a prefix — enough to spell out their names.
 * Unpaged, the filtered answer is the whole answer. (`prefix` and `bucket-region` only narrow it.)
 */
export const LIST_BUCKETS_PAGING_PARAMS = ['max-buckets', 'continuation-token'] as const;

/** Largest ListBuckets response the proxy will buffer (10 000 buckets fit). */
export const MAX_LIST_BUCKETS_BYTES = 8 * 1024 * 1024;

const BUCKET_RE = /<Bucket>([\s\S]*?)<\/Bucket>\s*/g;
const CONTINUATION_RE = /<ContinuationToken>[^<]*<\/ContinuationToken>\s*/g;
const NAME_RE = /<Name>([^<]*)<\/Name>/;

function unescapeXml(s: string): string {
  return s.replace(
    /&(amp|lt|gt|quot|apos);/g,
    (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[e] ?? '',
  );
}

/**
 * Keeps the `<Bucket>` entries whose `<Name>` is in `allowed` and drops any `<ContinuationToken>`
 * (a page of the unfiltered list; see {@link LIST_BUCKETS_PAGING_PARAMS}); everything else
 * (Owner, Prefix, …) passes through unchanged. An entry without a readable name is dropped
 * (fail closed); a body that is not a ListAllMyBucketsResult gives undefined (nothing to pass on).
 */
export function filterListBucketsXml(xml: string, allowed: ReadonlySet<string>): string | undefined {
  if (!xml.includes('<ListAllMyBucketsResult')) return undefined;
  return xml
    .replace(BUCKET_RE, (whole, inner: string) => {
      const name = NAME_RE.exec(inner)?.[1];
      return name !== undefined && allowed.has(unescapeXml(name)) ? whole : '';
    })
    .replace(CONTINUATION_RE, '');
}
