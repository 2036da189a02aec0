// Validation of rendered k8s objects, strictly: each object against its schema (kubernetes-models
// for Kubernetes 1.34, @kubernetes-models/strimzi-kafka-operator and /cloudnative-pg for those
// operators' CRDs, k8s/schemas/eck-elasticsearch-v1.json for ECK's, which npm has no model of),
// and every field name checked against the fields the schema knows. The schemas allow unknown
// fields (as the API server would prune them silently): a misspelt `contianers` would pass them.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import type { K8sObject } from './k8s-render.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
type Json = Record<string, unknown>;
interface SchemaError { instancePath: string; message?: string }
/** Validates a whole object; returns its errors (none: valid). */
type Validate = (data: unknown) => SchemaError[];
type ModelClass = new (data: unknown) => { validate(): void };

/** Where the model of an apiVersion lives: core Kubernetes, or an operator's CRD package. */
const modelPackages: Record<string, string> = {
  'kafka.strimzi.io/v1': '@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1',
  'postgresql.cnpg.io/v1': '@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1',
};

/** Fields whose content is free-form by their schema (`x-kubernetes-preserve-unknown-fields`): broker and topic settings. */
const freeForm: Record<string, string[]> = {
  Kafka: ['/spec/kafka/config'],
  KafkaTopic: ['/spec/config'],
};

async function modelOf(apiVersion: string, kind: string): Promise<ModelClass> {
  const module = (await import(modelPackages[apiVersion] ?? `kubernetes-models/${apiVersion}`)) as Record<string, ModelClass>;
  const model = module[kind];
  if (!model) throw new Error(`no schema for ${apiVersion} ${kind}`);
  return model;
}

const validateWith = (Model: ModelClass): Validate => (data) => {
  try {
    new Model(data).validate();
    return [];
  } catch (error) {
    const errors = (error as { errors?: SchemaError[] }).errors;
    if (!errors) throw error;
    return errors;
  }
};

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const pointer = (path: readonly string[]) => path.map((key) => `/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');

/** A value of no JSON type: every typed schema refuses it, so an error at a field's path shows the schema knows that field. */
const probe = (): void => {};

/**
 * Field names the schema does not know, as JSON pointers. At each object of the document, every
 * field is replaced by a probe value at once: the schema reports each field it knows (a type error
 * at that field's path, or under it); the fields it stays silent about are unknown to it.
 */
export function unknownFields(document: unknown, validate: Validate, freePaths: readonly string[] = []): string[] {
  const unknown: string[] = [];
  const visit = (node: unknown, path: string[]): void => {
    if (Array.isArray(node)) return node.forEach((item, index) => visit(item, [...path, String(index)]));
    if (!isObject(node) || freePaths.includes(pointer(path)) || Object.keys(node).length === 0) return;
    const probed = structuredClone(document) as Json;
    const target = path.reduce<Json>((parent, key) => parent[key] as Json, probed);
    for (const key of Object.keys(target)) target[key] = probe;
    const reported = validate(probed).map((e) => e.instancePath);
    for (const key of Object.keys(node)) {
      const at = pointer([...path, key]);
      if (reported.some((p) => p === at || p.startsWith(`${at}/`))) visit(node[key], [...path, key]);
      else unknown.push(at);
    }
  };
  visit(document, []);
  return unknown;
}

const eckSchema = JSON.parse(readFileSync(join(root, 'k8s/schemas/eck-elasticsearch-v1.json'), 'utf8')) as Json;
const eck = new Ajv({ allErrors: true, strict: false }).compile(eckSchema);

/**
 * Every problem of a rendered object: schema errors, then unknown field names (strict), each as
 * `<pointer> <message>`. ECK's Elasticsearch is checked against the checked-in schema subset
 * (additionalProperties false throughout), its pod template and volume claims against Kubernetes'.
 */
export async function problemsOf(object: K8sObject): Promise<string[]> {
  if (object.apiVersion === 'elasticsearch.k8s.elastic.co/v1') {
    const problems = eck(object) ? [] : (eck.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}${e.keyword === 'additionalProperties' ? `: ${String(e.params.additionalProperty)}` : ''}`);
    const template = validateWith(await modelOf('v1', 'PodTemplateSpec'));
    const claim = validateWith(await modelOf('v1', 'PersistentVolumeClaim'));
    const nodeSets = ((object.spec as Json | undefined)?.nodeSets ?? []) as Json[];
    nodeSets.forEach((nodeSet, index) => {
      const at = `/spec/nodeSets/${index}`;
      if (nodeSet.podTemplate) problems.push(...strictly(nodeSet.podTemplate, template).map((p) => `${at}/podTemplate${p}`));
      for (const [i, pvc] of ((nodeSet.volumeClaimTemplates ?? []) as Json[]).entries()) {
        problems.push(...strictly({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', ...pvc }, claim).map((p) => `${at}/volumeClaimTemplates/${i}${p}`));
      }
    });
    return problems;
  }
  return strictly(object, validateWith(await modelOf(object.apiVersion, object.kind)), freeForm[object.kind]);
}

function strictly(document: unknown, validate: Validate, freePaths?: readonly string[]): string[] {
  const errors = validate(document).map((e) => `${e.instancePath} ${e.message ?? ''}`);
  return [...errors, ...unknownFields(document, validate, freePaths).map((p) => `${p} is not a field of this schema`)];
}
