/** Tiny HTTP probes for readiness checks (no keep-alive pool left holding the event loop). */
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Status code of `GET url`, or 0 on any connection error or after `timeoutMs`. The connection is
 * not pooled (agent: false) so a probe never leaves a socket behind.
 */
export async function httpStatus(url: string, timeoutMs = 2000): Promise<number> {
  return (await httpProbe(url, timeoutMs)).status;
}

/** Status and headers of `GET url`; status 0 on any connection error or timeout. */
export function httpProbe(
  url: string,
  timeoutMs = 2000,
): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      res.on('error', () => resolve({ status: 0, headers: {} }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, headers: {} }));
    req.end();
  });
}
