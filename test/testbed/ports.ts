/**
 * Dynamic 127.0.0.1 ports for test-bed processes. Other helpers run tests on the same machine at
 * the same time, so no port is ever fixed.
 */
import { createServer } from 'node:net';

/** Ports handed out by this process: the kernel may offer a just-closed port again, we never do. */
const handedOut = new Set<number>();

/** Binds 127.0.0.1:0 once and returns the port the kernel chose, after closing the listener. */
function probe(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A port that was free on 127.0.0.1 a moment ago and has not been returned before by this
 * process. Racy by nature against other processes (the port is closed before the caller binds
 * it), which is why callers that spawn servers should retry on EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await probe();
    if (port > 0 && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freePort: no unused port after 50 attempts');
}

/** `n` distinct free ports (see {@link freePort}). */
export async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await freePort());
  return out;
}
