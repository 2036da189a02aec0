// Child-process fixture of the crash tests: a relay or a consumer that SIGKILLs its own process at
// the worst moment, so the crash is real (no cleanup, no offset commit, no lock release but the
// server's). Usage: node messaging.fixture.ts relay|consumer, with DATABASE_URL, KAFKA_BROKERS,
// KAFKA_TOPIC_PREFIX, and BATCH_SIZE (relay) or GROUP_NAME (consumer). A consumer dies after its
// batch's transaction committed (before the offsets are), or with DIE_ON=<name> in the middle of
// the batch's transaction, at the handler of the event with that name.
import { testLogger } from '@shopgraph/testkit';
import { createKafka } from '../src/messaging/kafka.ts';
import { startConsumer } from '../src/messaging/consumer.ts';
import { startOutboxRelay } from '../src/messaging/relay.ts';
import { EFFECT_SQL, openMessagingDatabase } from './support.ts';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const mode = process.argv[2];
const orm = await openMessagingDatabase(env('DATABASE_URL'), { effects: true });
const kafka = createKafka({ brokers: env('KAFKA_BROKERS').split(','), clientId: `fixture-${mode}`, topicPrefix: env('KAFKA_TOPIC_PREFIX') });
const logger = testLogger(`fixture-${mode}`);
const die = (): never => {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
};

if (mode === 'relay') {
  // Kafka has acknowledged the batch; the rows are not marked yet.
  await startOutboxRelay({ orm, kafka, logger, batchSize: Number(env('BATCH_SIZE')), afterSend: die });
} else if (mode === 'consumer') {
  await startConsumer({
    service: 'fixture',
    name: env('GROUP_NAME'),
    orm,
    kafka,
    logger,
    sessionTimeoutMs: 6_000, // the broker's minimum: the survivor gets the partition soon after
    handlers: {
      'account.user.registered': async (event, em) => {
        await em.execute(EFFECT_SQL, [event.id]);
        if (event.data.name === process.env.DIE_ON) die();
      },
    },
    // The effects and processed_message rows are committed; the offsets are not.
    afterCommit: process.env.DIE_ON ? undefined : die,
  });
} else {
  throw new Error(`usage: messaging.fixture.ts relay|consumer (got ${mode})`);
}
console.log('ready');
