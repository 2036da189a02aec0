// The owners of the event topics (events/src/contracts `owners`, which consumers enforce on every
// event's `source`) are the services that really record their events, read from the code.
import { describe, expect, it } from 'vitest';
import { ownerOf, topics } from '../events/src/index.ts';
import { readSupergraphConfig } from './compose.ts';
import { kafkaAccess } from './kafka-access.ts';

describe('event topic owners', () => {
  const access = kafkaAccess(readSupergraphConfig().map(({ name }) => name));

  it('every topic a service writes is one it owns', () => {
    for (const { service, writes } of access) for (const topic of writes) expect(ownerOf(topic), `${service} writes ${topic}`).toBe(service);
  });

  it('every contract topic is written by its owner, and only by it', () => {
    for (const topic of topics) expect(access.filter((a) => a.writes.includes(topic)).map((a) => a.service), topic).toEqual([ownerOf(topic)]);
  });
});
