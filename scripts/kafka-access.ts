// Who writes and who reads which Kafka topic, read from the code: a service writes the topics of
// the events it records (`recordEvent(em, '<type>', …)` in its src/) and its consumers' dead-letter
// topics, and reads the topics of the event types its consumers handle (the `consumers` and
// `broadcastConsumers` of its src/app.ts, whose handler maps are keyed by event type). The prod
// overlay's KafkaTopics and KafkaUser ACLs are checked against this (scripts/k8s.test.ts).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { contracts, topics, type EventType } from '../events/src/index.ts';
import { deadLetterTopic } from '../packages/kit/src/messaging/dead-letters.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const isEventType = (value: string): value is EventType => Object.hasOwn(contracts, value);
const topicOf = (type: EventType) => contracts[type].topic;

export interface Consumer {
  /** `<service>.<name>`; a broadcast consumer's groups are this plus `.<random>`, one per process. */
  group: string;
  broadcast: boolean;
  topics: string[];
}

export interface KafkaAccess {
  service: string;
  /** Topics of the events it records. */
  writes: string[];
  consumers: Consumer[];
}

/** The .ts files under a directory, tests left out. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return entry === 'test' ? [] : sources(path);
    return entry.endsWith('.ts') && !entry.endsWith('.test.ts') ? [path] : [];
  });
}

/** The text of a call whose `(` is at `open`, to its matching `)`. */
function callText(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) return text.slice(open, i + 1);
  }
  throw new Error('unbalanced call');
}

const quoted = (text: string) => [...text.matchAll(/'([^'\n]+)'/g)].map((m) => m[1]!);

/** Event types a service records: the event-type literals of its recordEvent calls. A call naming none is an error (the type would be unknowable here). */
function recordedTypes(service: string, files: string[]): EventType[] {
  const types = new Set<EventType>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/\brecordEvent\s*\(/g)) {
      if (/function\s+$|import[^;]*$/.test(text.slice(Math.max(0, match.index - 40), match.index))) continue;
      const call = callText(text, match.index + match[0].length - 1);
      const found = quoted(call).filter(isEventType);
      if (found.length === 0) throw new Error(`${service}: ${file} records an event whose type is not a literal: ${call.slice(0, 80)}`);
      for (const type of found) types.add(type);
    }
  }
  return [...types];
}

/** `{ name: handlers(…) }` entries of an app.ts object property (`consumers:` or `broadcastConsumers:`). */
function consumerEntries(appText: string, property: string): { name: string; handlers: string }[] {
  const match = new RegExp(`\\b${property}:\\s*\\{`).exec(appText);
  if (!match) return [];
  const start = match.index + match[0].length;
  const body = appText.slice(start, appText.indexOf('}', start));
  return [...body.matchAll(/(\w+):\s*(\w+)/g)].map((m) => ({ name: m[1]!, handlers: m[2]! }));
}

/** The event types of a handler map: the event-type keys in the module app.ts imports it from. */
function handledTypes(service: string, appFile: string, handlers: string): EventType[] {
  const appText = readFileSync(appFile, 'utf8');
  const from = new RegExp(`import\\s*\\{[^}]*\\b${handlers}\\b[^}]*\\}\\s*from\\s*'([^']+)'`).exec(appText)?.[1];
  if (!from) throw new Error(`${service}: cannot find where ${handlers} comes from in ${appFile}`);
  const text = readFileSync(resolve(dirname(appFile), from), 'utf8');
  const types = [...text.matchAll(/'([\w.-]+)'\s*:/g)].map((m) => m[1]!).filter(isEventType);
  if (types.length === 0) throw new Error(`${service}: ${handlers} (${from}) handles no event type this can read`);
  return [...new Set(types)];
}

/** Every subgraph's Kafka access, by service name, from subgraphs/<name>/src. */
export function kafkaAccess(services: readonly string[]): KafkaAccess[] {
  return services.map((service) => {
    const src = join(root, 'subgraphs', service, 'src');
    const appFile = join(src, 'app.ts');
    if (!existsSync(appFile)) throw new Error(`${service}: no src/app.ts`);
    const appText = readFileSync(appFile, 'utf8');
    const consumers: Consumer[] = [false, true].flatMap((broadcast) =>
      consumerEntries(appText, broadcast ? 'broadcastConsumers' : 'consumers').map(({ name, handlers }) => ({
        group: `${service}.${name}`,
        broadcast,
        topics: [...new Set(handledTypes(service, appFile, handlers).map(topicOf))].sort(),
      })),
    );
    return { service, writes: [...new Set(recordedTypes(service, sources(src)).map(topicOf))].sort(), consumers };
  });
}

/** Every topic the deployment must have: the contracts' and each idempotent consumer's dead-letter topic. */
export function topicsOf(access: readonly KafkaAccess[]): string[] {
  const deadLetters = access.flatMap((a) => a.consumers.filter((c) => !c.broadcast).map((c) => deadLetterTopic(c.group)));
  return [...new Set([...topics, ...deadLetters])].sort();
}

/** An ACL as `<resource type>:<name>:<pattern type>:<operation>`, for comparing sets. */
export type AclKey = string;

/**
 * The ACLs a service needs, no more: Describe on every contract topic (each service makes sure at
 * start that they all exist: kit's runService), Write on what it records and on its dead-letter
 * topics, Read on what its consumers handle, Read on its consumer groups; a broadcast consumer's
 * groups by prefix, with Delete (each process deletes its own group when it stops).
 */
export function aclsOf(access: KafkaAccess): AclKey[] {
  const acls = new Set<AclKey>();
  for (const topic of topics) acls.add(`topic:${topic}:literal:Describe`);
  for (const topic of access.writes) acls.add(`topic:${topic}:literal:Write`);
  for (const consumer of access.consumers) {
    for (const topic of consumer.topics) acls.add(`topic:${topic}:literal:Read`);
    if (consumer.broadcast) {
      for (const operation of ['Read', 'Describe', 'Delete']) acls.add(`group:${consumer.group}.:prefix:${operation}`);
    } else {
      acls.add(`group:${consumer.group}:literal:Read`);
      acls.add(`topic:${deadLetterTopic(consumer.group)}:literal:Write`);
    }
  }
  return [...acls].sort();
}

/**
 * The ACLs of `npm run dlq:replay` (packages/kit/bin/dlq-replay.ts), run by an operator: it reads a group's
 * dead-letter topic with the group `<group>.dlq-replay` and sends each message back to the topic it
 * came from, one the group consumes.
 */
export function replayAclsOf(access: readonly KafkaAccess[]): AclKey[] {
  const acls = new Set<AclKey>();
  for (const consumer of access.flatMap((a) => a.consumers).filter((c) => !c.broadcast)) {
    acls.add(`topic:${deadLetterTopic(consumer.group)}:literal:Read`);
    acls.add(`group:${consumer.group}.dlq-replay:literal:Read`);
    for (const topic of consumer.topics) acls.add(`topic:${topic}:literal:Write`);
  }
  return [...acls].sort();
}
