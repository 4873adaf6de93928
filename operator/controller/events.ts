/**
 * core/v1 Events on the objects the controller acts for (`kubectl describe pod` shows them).
 * Best effort: a failed Event is logged, never fails a reconcile.
 */
import type { KubeClient, KubeObject } from '../kube/client.ts';
import { resourcePath } from '../kube/client.ts';
import { rfc3339 } from '../kube/conditions.ts';

/** Posts Events as `component` (e.g. "sluice-operator") from `instance` (the replica). */
export class EventRecorder {
  private readonly client: KubeClient;
  private readonly component: string;
  private readonly instance: string;
  private readonly onError: (err: unknown) => void;

  constructor(
    client: KubeClient,
    opts: { component: string; instance: string; onError: (err: unknown) => void },
  ) {
    this.client = client;
    this.component = opts.component;
    this.instance = opts.instance;
    this.onError = opts.onError;
  }

  /** Records one Event on `obj` (kind/apiVersion given, since cached objects may lack them). */
  record(
    obj: KubeObject,
    ref: { apiVersion: string; kind: string },
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): void {
    const md = obj.metadata ?? {};
    const namespace = md.namespace || 'default';
    const now = rfc3339(new Date());
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${md.name ?? 'object'}.`, namespace },
      involvedObject: {
        ...ref,
        name: md.name,
        namespace: md.namespace,
        uid: md.uid,
        resourceVersion: md.resourceVersion,
      },
      type,
      reason,
      message: message.slice(0, 1024),
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: this.instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    this.client
      .create(resourcePath({ group: '', version: 'v1', plural: 'events', namespace }), event)
      .catch((err: unknown) => this.onError(err));
  }
}
