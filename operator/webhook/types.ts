/**
 * The admission.k8s.io/v1 shapes the webhook reads and writes — only the fields it uses
 * (https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/).
 * client-node has no AdmissionReview model; Pod shapes come from it.
 */
import type { V1Pod } from '@kubernetes/client-node';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/** AdmissionRequest: what the API server asks about. */
export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  /** Namespace of the object; set even when a generateName pod's metadata has none. */
  namespace?: string;
  name?: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  object?: unknown;
  dryRun?: boolean;
}

/** AdmissionResponse: the webhook's answer; `patch` is base64 of a JSON Patch array. */
export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string; reason?: string };
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
}

export interface AdmissionReview {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

/** The Pod as the webhook sees it: plain JSON, client-node's shape. */
export type Pod = V1Pod;
