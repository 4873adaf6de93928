/**
 * The one MinIO admin call the test bed needs: server info, i.e. which servers and drives a node
 * currently sees as online. Signed with SigV4 (service s3) by @smithy/signature-v4.
 */
import { request } from 'node:http';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../../proxy/sigv4/smithy-reference.ts';

/** One server as seen by the node asked: `endpoint` is host:port, states are 'online'/'ok'. */
export interface ServerView {
  endpoint: string;
  state: string;
  drives: { endpoint: string; state: string }[];
}

/**
 * GET /minio/admin/v3/info on `baseUrl` (http://127.0.0.1:PORT) as the root user: the servers
 * and drives that node sees, with their state. Rejects on any HTTP or connection error.
 */
export async function serverInfo(
  baseUrl: string,
  creds: { accessKeyId: string; secretAccessKey: string },
  timeoutMs = 5000,
): Promise<ServerView[]> {
  const u = new URL(baseUrl);
  const signer = new SignatureV4({
    service: 's3',
    region: 'us-east-1',
    credentials: creds,
    sha256: NodeSha256,
  });
  const signed = await signer.sign(
    new HttpRequest({
      method: 'GET',
      protocol: 'http:',
      hostname: u.hostname,
      port: Number(u.port),
      path: '/minio/admin/v3/info',
      headers: { host: u.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    }),
  );
  const body = await new Promise<string>((resolve, reject) => {
    const req = request(
      `${u.origin}/minio/admin/v3/info`,
      { method: 'GET', headers: signed.headers, agent: false, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (b: Buffer) => chunks.push(b));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 200) resolve(text);
          else reject(new Error(`admin info: HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('admin info: timeout')));
    req.on('error', reject);
    req.end();
  });
  const parsed = JSON.parse(body) as {
    servers?: { endpoint?: string; state?: string; drives?: { endpoint?: string; state?: string }[] }[];
  };
  return (parsed.servers ?? []).map((s) => ({
    endpoint: s.endpoint ?? '',
    state: s.state ?? '',
    drives: (s.drives ?? []).map((d) => ({ endpoint: d.endpoint ?? '', state: d.state ?? '' })),
  }));
}

/**
 * Creates a probe bucket, writes and deletes one object through every node in `baseUrls`, then
 * removes the bucket, as the root user: proves each node accepts writes, not only that it is up.
 * Rejects on any failure (callers retry); leaves nothing behind once it resolves.
 */
export async function probeWrite(
  baseUrls: string[],
  accessKeyId: string,
  secretAccessKey: string,
): Promise<void> {
  const { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } =
    await import('@aws-sdk/client-s3');
  const clients = baseUrls.map(
    (endpoint) =>
      new S3Client({
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId, secretAccessKey },
        maxAttempts: 1,
      }),
  );
  const Bucket = 'sluice-testbed-write-probe';
  try {
    try {
      await clients[0]?.send(new CreateBucketCommand({ Bucket }));
    } catch (err) {
      if ((err as { name?: string }).name !== 'BucketAlreadyOwnedByYou') throw err;
    }
    for (const s3 of clients) {
      await s3.send(new PutObjectCommand({ Bucket, Key: 'probe', Body: 'probe' }));
      await s3.send(new DeleteObjectCommand({ Bucket, Key: 'probe' }));
    }
    await clients[0]?.send(new DeleteBucketCommand({ Bucket }));
  } finally {
    for (const s3 of clients) s3.destroy();
  }
}
