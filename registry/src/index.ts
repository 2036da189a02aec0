import { createLogger, runUntilSignal } from '@shopgraph/kit';
import { createRegistryApp } from './app.ts';
import { loadRegistryConfig } from './config.ts';

// The registry is not a subgraph (no Kafka, no JWTs), so it runs the kit's entrypoint steps itself: config → app → listen → shutdown on a signal.
const config = loadRegistryConfig();
const logger = createLogger('registry', config.LOG_LEVEL);
await runUntilSignal('registry', logger, async () => {
  const app = await createRegistryApp({ config, logger });
  logger.info({ url: await app.listen(config.PORT, config.HOST) }, 'registry listening');
  return app;
});
