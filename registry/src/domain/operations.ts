import { GraphQLError, isAbstractType, parse, TypeInfo, validate, visit, visitWithTypeInfo, type DocumentNode, type GraphQLSchema } from 'graphql';
import { createHash } from 'node:crypto';
import { badInput, BadInputReason } from './bad-input.ts';

/** One operation of a client's persisted-query manifest. */
export interface ManifestOperation {
  /** sha256 hex of `body`. */
  id: string;
  name: string | null;
  type: 'query' | 'mutation' | 'subscription';
  body: string;
}

export const MANIFEST_FORMAT = 'apollo-persisted-query-manifest';
const OPERATION_TYPES = new Set(['query', 'mutation', 'subscription']);
export const documentIdOf = (body: string): string => createHash('sha256').update(body).digest('hex');

/**
 * Reads an Apollo persisted-query manifest (`{ format: "apollo-persisted-query-manifest",
 * version: 1, operations: [{ id, name, type, body }] }`); refuses anything else, naming what to fix.
 */
export function parseManifest(text: string, maxOperations: number): ManifestOperation[] {
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch (error) {
    throw badInput(BadInputReason.INVALID_MANIFEST, `The manifest is not JSON: ${(error as Error).message}`);
  }
  const { format, version, operations } = (manifest ?? {}) as { format?: unknown; version?: unknown; operations?: unknown };
  if (format !== MANIFEST_FORMAT || version !== 1) {
    throw badInput(BadInputReason.UNKNOWN_MANIFEST_FORMAT, `Unknown manifest format ${JSON.stringify(format ?? null)} version ${JSON.stringify(version ?? null)}: expected "${MANIFEST_FORMAT}" version 1 (as @apollo/generate-persisted-query-manifest writes it).`);
  }
  if (!Array.isArray(operations)) throw badInput(BadInputReason.INVALID_MANIFEST, 'The manifest has no "operations" list.');
  if (operations.length > maxOperations) throw badInput(BadInputReason.TOO_MANY_OPERATIONS, `The manifest has ${operations.length} operations; at most ${maxOperations} are accepted.`);
  const seen = new Set<string>();
  return operations.map((operation: unknown, index) => {
    const { id, name, type, body } = (operation ?? {}) as Record<string, unknown>;
    const where = `operations[${index}]${typeof name === 'string' ? ` (${name})` : ''}`;
    if (typeof body !== 'string' || typeof id !== 'string' || typeof type !== 'string') throw badInput(BadInputReason.INVALID_MANIFEST, `${where}: needs "id", "type" and "body" strings.`);
    if (!OPERATION_TYPES.has(type)) throw badInput(BadInputReason.INVALID_MANIFEST, `${where}: type "${type}" is not query, mutation or subscription.`);
    if (id !== documentIdOf(body)) throw badInput(BadInputReason.INVALID_MANIFEST, `${where}: id is not the sha256 hex of its body (expected ${documentIdOf(body)}).`);
    try {
      parse(body);
    } catch (error) {
      const at = error instanceof GraphQLError ? error.locations?.[0] : undefined;
      throw badInput(BadInputReason.INVALID_MANIFEST, `${where}: the body does not parse${at ? ` (line ${at.line}, column ${at.column})` : ''}: ${(error as Error).message}`);
    }
    if (seen.has(id)) throw badInput(BadInputReason.INVALID_MANIFEST, `${where}: the same document appears twice.`);
    seen.add(id);
    return { id, name: typeof name === 'string' ? name : null, type: type as ManifestOperation['type'], body };
  });
}

/** Why a document does not validate against a schema (empty: it does). */
export function validationErrors(schema: GraphQLSchema, document: DocumentNode): string[] {
  return validate(schema, document).map((error) => error.message);
}

/** The fields (`Type.field`) a document selects, through fragments, as the schema types them. */
export function selectedCoordinates(schema: GraphQLSchema, document: DocumentNode): Set<string> {
  const coordinates = new Set<string>();
  const typeInfo = new TypeInfo(schema);
  visit(document, visitWithTypeInfo(typeInfo, {
    Field(node) {
      const parent = typeInfo.getParentType();
      const name = node.name.value;
      if (!parent || name.startsWith('__')) return;
      coordinates.add(`${parent.name}.${name}`);
      // Selected on an interface or union, the field is read from whichever implementation comes back.
      if (isAbstractType(parent)) for (const type of schema.getPossibleTypes(parent)) if (name in type.getFields()) coordinates.add(`${type.name}.${name}`);
    },
  }));
  return coordinates;
}
