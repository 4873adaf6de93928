/** Tiny HTTP probes for readiness checks (no keep-alive pool left holding the event loop). */
import { request } from 'node:http';

/**
 * Status code of `GET url`, or 0 on any connection error or after `timeoutMs`. The connection is
 * not pooled (agent: false) so a probe never leaves a socket behind.
 */
export function httpStatus(url: string, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}
