/**
 * What a process allocates, by call site (not a test): V8's sampling heap profiler, driven over
 * the inspector protocol of a process started with `--inspect=127.0.0.1:PORT`. Objects the GC
 * has already collected are counted too, so the total is what the process allocated while
 * sampling, not what it holds: the garbage behind its scavenges.
 */

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

/** A sampling heap profile (HeapProfiler.SamplingHeapProfile). */
export interface SamplingProfile {
  head: SamplingNode;
}

/** One inspector session over the process's WebSocket endpoint. */
export class InspectorClient {
  private next = 1;
  private readonly waiting = new Map<number, (msg: { result?: unknown; error?: unknown }) => void>();

  private readonly ws: WebSocket;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.addEventListener('message', (ev) => {
      const msg = JSON.parse(String(ev.data)) as { id?: number; result?: unknown; error?: unknown };
      if (msg.id === undefined) return;
      this.waiting.get(msg.id)?.(msg);
      this.waiting.delete(msg.id);
    });
  }

  /** Connects to the first target the inspector on 127.0.0.1:`port` lists. */
  static async connect(port: number): Promise<InspectorClient> {
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
      webSocketDebuggerUrl: string;
    }[];
    const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl);
    await new Promise((resolve, reject) => {
      ws.addEventListener('open', resolve, { once: true });
      ws.addEventListener('error', reject, { once: true });
    });
    return new InspectorClient(ws);
  }

  post<T>(method: string, params: object = {}): Promise<T> {
    const id = this.next++;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (msg) =>
        msg.error ? reject(new Error(`${method}: ${JSON.stringify(msg.error)}`)) : resolve(msg.result as T),
      );
    });
  }

  startSampling(): Promise<unknown> {
    return this.post('HeapProfiler.startSampling', {
      samplingInterval: 256,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  }

  async stopSampling(): Promise<SamplingProfile> {
    return (await this.post<{ profile: SamplingProfile }>('HeapProfiler.stopSampling')).profile;
  }

  close(): void {
    this.ws.close();
  }
}

/** Total sampled bytes, and the `top` call sites by the bytes allocated in them. */
export function summarize(
  profile: SamplingProfile,
  top: number,
): { total: number; sites: [string, number][] } {
  const bySite = new Map<string, number>();
  let total = 0;
  const walk = (n: SamplingNode): void => {
    total += n.selfSize;
    if (n.selfSize > 0) {
      const f = n.callFrame;
      const where = f.url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^file:\/\//, '');
      const site = `${f.functionName || '(anonymous)'} ${where}:${f.lineNumber + 1}`;
      bySite.set(site, (bySite.get(site) ?? 0) + n.selfSize);
    }
    n.children.forEach(walk);
  };
  walk(profile.head);
  return { total, sites: [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top) };
}
