/** A promise over one exchange of the sidecar's backend client (proxy/http1/), for tests. */
import type { Readable } from 'node:stream';
import type { UpstreamDispatcher } from '../../proxy/http1/types.ts';

export interface UpstreamResponse {
  statusCode: number;
  headers: Record<string, string>;
  rawHeaders: readonly string[];
  body: Buffer;
}

/** Sends one request and collects the whole response (chunks are copied: they are borrowed). */
export function upstreamRequest(
  dispatcher: UpstreamDispatcher,
  req: {
    method?: string;
    path: string;
    headers?: string[];
    body?: Readable | null;
    headersTimeout?: number;
    bodyTimeout?: number;
  },
): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let head: Omit<UpstreamResponse, 'body'> | undefined;
    dispatcher.dispatch(
      {
        method: req.method ?? 'GET',
        path: req.path,
        headers: req.headers ?? ['host', 'backend'],
        body: req.body ?? null,
        headersTimeout: req.headersTimeout ?? 10_000,
        bodyTimeout: req.bodyTimeout ?? 10_000,
      },
      {
        onResponseStart(c, statusCode, parsed) {
          head = { statusCode, headers: parsed.headers, rawHeaders: c.rawHeaders };
        },
        onResponseData(_c, chunk) {
          chunks.push(Buffer.from(chunk));
        },
        onResponseEnd() {
          resolve({ ...head!, body: Buffer.concat(chunks) });
        },
        onResponseError(_c, err) {
          reject(err);
        },
      },
    );
  });
}
