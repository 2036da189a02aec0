// The one place that starts or finds real infrastructure, for `npm start` and test setup.
export { repoDirs, repoRoot } from './paths.ts';
export {
  createDatabase,
  databaseUrl,
  dropDatabase,
  ensurePostgres,
  LOCAL_POSTGRES_URL,
  pingPostgres,
  queryOnce,
  startEmbeddedPostgres,
  type PostgresHandle,
} from './postgres.ts';
export { ensureRedis, LOCAL_REDIS_URL, pingRedis, startRedisServer, type RedisHandle } from './redis.ts';
export {
  ensureKafka,
  fetchKafka,
  KAFKA_VERSIONS,
  startKafka,
  waitForKafka,
  type KafkaHandle,
  type StartKafkaOptions,
} from './kafka.ts';
export {
  ELASTICSEARCH_VERSIONS,
  ensureElasticsearch,
  fetchElasticsearch,
  startElasticsearch,
  waitForElasticsearch,
  type ElasticsearchHandle,
  type StartElasticsearchOptions,
} from './elasticsearch.ts';
export { ensureMailCatcher, pingMailCatcher, startMailCatcher, type MailCatcherHandle } from './mail.ts';
export { canConnect, freePort, freePorts } from './ports.ts';
export { findBinary, spawnManaged, type ManagedChild } from './process.ts';
export { startPrometheus, type PrometheusHandle, type StartPrometheusOptions } from './prometheus.ts';
export { ensureZipkin, startZipkin, ZIPKIN_VERSIONS, type ZipkinHandle } from './zipkin.ts';
export { redactUrl, type Log } from './util.ts';
