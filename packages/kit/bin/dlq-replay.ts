// Sends a consumer group's dead letters back to the topics they came from, once the cause is
// fixed, and prints how many. Usage: node packages/kit/bin/dlq-replay.ts <service>.<name> [--limit N]
// (`npm run dlq:replay -- …` in a checkout). In the image too, so it runs where the brokers are.
// Env: KAFKA_BROKERS (default 127.0.0.1:9092), KAFKA_TOPIC_PREFIX (default none), KAFKA_SASL_* and KAFKA_SSL* (as the services).
import { parseArgs } from 'node:util';
import { createKafka, kafkaConfig, kafkaSecurity, loadConfig, replayDeadLetters } from '../src/index.ts';

const { positionals, values } = parseArgs({ allowPositionals: true, options: { limit: { type: 'string' } } });
const group = positionals[0];
const limit = values.limit === undefined ? undefined : Number(values.limit);
if (!group || positionals.length > 1 || (limit !== undefined && !(Number.isInteger(limit) && limit > 0))) {
  console.error('usage: node packages/kit/bin/dlq-replay.ts <consumer group, e.g. inventory.saga> [--limit N]');
  process.exit(2);
}
const config = loadConfig(kafkaConfig);
const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'dlq-replay', topicPrefix: config.KAFKA_TOPIC_PREFIX, security: kafkaSecurity(config) });
try {
  await kafka.ping();
  const replayed = await replayDeadLetters(kafka, group, limit === undefined ? {} : { limit });
  console.log(`replayed ${replayed} dead letter(s) of ${group} from ${kafka.topic(`${group}.dlq`)}`);
} catch (error) {
  console.error(`dlq-replay failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await kafka.close();
}
