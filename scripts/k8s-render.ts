// Renders a kustomization as `kubectl kustomize` does, for the features k8s/ uses: resources
// (files and directories), namespace, labels (with includeTemplates / includeSelectors), images,
// replicas and patches (JSON 6902 with a target, strategic merge of whole objects or
// `$patch: delete`). No kustomize runs here (no kubectl, no network): anything else in a
// kustomization is refused, so a new feature fails the tests instead of rendering wrongly.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}
interface Target { kind?: string; name?: string }
interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  resources?: string[];
  labels?: { pairs: Record<string, string>; includeTemplates?: boolean; includeSelectors?: boolean }[];
  images?: { name: string; newName?: string; newTag?: string; digest?: string }[];
  replicas?: { name: string; count: number }[];
  patches?: { path?: string; patch?: string; target?: Target }[];
}
const supported = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'labels', 'images', 'replicas', 'patches']);
const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PriorityClass', 'StorageClass']);
const workloads = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet']);

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

export function renderKustomization(dir: string): K8sObject[] {
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization;
  const unknown = Object.keys(kustomization).filter((key) => !supported.has(key));
  if (unknown.length > 0) throw new Error(`${dir}: kustomization fields not supported by this renderer: ${unknown.join(', ')}`);

  let objects: K8sObject[] = (kustomization.resources ?? []).flatMap((resource) => {
    const path = join(dir, resource);
    if (!existsSync(path)) throw new Error(`${dir}: resource ${resource} does not exist`);
    return statSync(path).isDirectory() ? renderKustomization(path) : parseAllDocuments(readFileSync(path, 'utf8')).map((doc) => doc.toJS() as K8sObject).filter(Boolean);
  });

  for (const { path, patch, target } of kustomization.patches ?? []) {
    const text = patch ?? readFileSync(join(dir, path!), 'utf8');
    const parsed = parse(text) as unknown;
    if (Array.isArray(parsed)) {
      if (!target) throw new Error(`${dir}: a JSON 6902 patch needs a target`);
      // As kustomize: a target's name is a regular expression over the whole name.
      const named = target.name === undefined ? undefined : new RegExp(`^(?:${target.name})$`);
      const matched = objects.filter((o) => (!target.kind || o.kind === target.kind) && (!named || named.test(o.metadata.name)));
      if (matched.length === 0) throw new Error(`${dir}: patch target ${JSON.stringify(target)} matches nothing`);
      for (const object of matched) applyJsonPatch(object, parsed as JsonPatchOp[]);
    } else {
      for (const doc of parseAllDocuments(text).map((d) => d.toJS() as K8sObject & { $patch?: string })) {
        const index = objects.findIndex((o) => o.kind === doc.kind && o.metadata.name === doc.metadata.name);
        if (index < 0) throw new Error(`${dir}: patch of ${doc.kind} ${doc.metadata.name} matches nothing`);
        if (doc.$patch === 'delete') objects = objects.filter((_, i) => i !== index);
        else objects[index] = mergeStrategic(objects[index]!, doc) as K8sObject;
      }
    }
  }

  if (kustomization.namespace) {
    for (const object of objects) if (!clusterScoped.has(object.kind)) object.metadata.namespace = kustomization.namespace;
  }
  for (const { pairs, includeTemplates, includeSelectors } of kustomization.labels ?? []) {
    for (const object of objects) {
      object.metadata.labels = { ...object.metadata.labels, ...pairs };
      const spec = object.spec as Json | undefined;
      if (!spec || !workloads.has(object.kind)) continue;
      const template = spec.template as { metadata?: { labels?: Record<string, string> } } | undefined;
      if (includeTemplates && template) template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, ...pairs } };
      if (includeSelectors) {
        const selector = spec.selector as { matchLabels?: Record<string, string> };
        selector.matchLabels = { ...selector.matchLabels, ...pairs };
        if (template) template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, ...pairs } };
      }
    }
  }
  for (const image of kustomization.images ?? []) {
    for (const container of objects.flatMap(containersOf)) {
      const [name, tag] = splitImage(container.image);
      if (name !== image.name) continue;
      const newName = image.newName ?? name;
      container.image = image.digest ? `${newName}@${image.digest}` : `${newName}${image.newTag ? `:${image.newTag}` : tag}`;
    }
  }
  for (const { name, count } of kustomization.replicas ?? []) {
    const matched = objects.filter((o) => workloads.has(o.kind) && o.metadata.name === name);
    if (matched.length === 0) throw new Error(`${dir}: replicas for ${name} match no workload`);
    for (const object of matched) (object.spec as Json).replicas = count;
  }
  return objects;
}

/** The containers (init containers too) of a workload's pod template. */
export function containersOf(object: K8sObject): { name: string; image: string }[] {
  const podSpec = ((object.spec as Json | undefined)?.template as { spec?: Json } | undefined)?.spec;
  if (!podSpec) return [];
  return [...((podSpec.initContainers as never[] | undefined) ?? []), ...((podSpec.containers as never[] | undefined) ?? [])];
}

/** `name` and the rest (`:tag`, `@digest`, or empty) of an image reference; a registry port is part of the name. */
function splitImage(image: string): [string, string] {
  const at = image.indexOf('@');
  if (at >= 0) return [image.slice(0, at), image.slice(at)];
  const colon = image.lastIndexOf(':');
  return colon > image.lastIndexOf('/') ? [image.slice(0, colon), image.slice(colon)] : [image, ''];
}

interface JsonPatchOp { op: 'add' | 'replace' | 'remove'; path: string; value?: unknown }

function applyJsonPatch(document: Json, ops: JsonPatchOp[]): void {
  for (const { op, path, value } of ops) {
    const keys = path.split('/').slice(1).map((key) => key.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = keys.pop()!;
    let parent: unknown = document;
    for (const key of keys) {
      parent = Array.isArray(parent) ? parent[Number(key)] : (parent as Json | undefined)?.[key];
      if (typeof parent !== 'object' || parent === null) throw new Error(`JSON patch ${op} ${path}: ${key} does not exist`);
    }
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (op === 'add') parent.splice(index, 0, structuredClone(value));
      else if (index >= parent.length) throw new Error(`JSON patch ${op} ${path}: no element ${last}`);
      else if (op === 'replace') parent[index] = structuredClone(value);
      else parent.splice(index, 1);
      continue;
    }
    const object = parent as Json;
    if (op !== 'add' && !(last in object)) throw new Error(`JSON patch ${op} ${path}: ${last} does not exist`);
    if (op === 'remove') delete object[last];
    else if (op === 'add' || op === 'replace') object[last] = structuredClone(value);
    else throw new Error(`JSON patch op ${String(op)} is not supported`);
  }
}

/** A strategic merge for what k8s/ patches: maps merge, lists of named items merge by name, other lists are replaced. */
function mergeStrategic(into: unknown, patch: unknown): unknown {
  if (isObject(into) && isObject(patch)) {
    const merged: Json = { ...into };
    for (const [key, value] of Object.entries(patch)) merged[key] = value === null ? undefined : mergeStrategic(into[key], value);
    return Object.fromEntries(Object.entries(merged).filter(([, value]) => value !== undefined));
  }
  if (Array.isArray(into) && Array.isArray(patch) && patch.every((item) => isObject(item) && typeof item.name === 'string')) {
    const merged = [...into] as unknown[];
    for (const item of patch as Json[]) {
      const index = merged.findIndex((existing) => isObject(existing) && existing.name === item.name);
      if (index >= 0) merged[index] = mergeStrategic(merged[index], item);
      else merged.push(item);
    }
    return merged;
  }
  return structuredClone(patch);
}
