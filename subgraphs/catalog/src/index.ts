import { createLogger, runUntilSignal } from '@shopgraph/kit';
import { createCatalogApp } from './app.ts';
import { loadCatalogConfig } from './config.ts';

const config = loadCatalogConfig();
const logger = createLogger('catalog', config.LOG_LEVEL);
await runUntilSignal('catalog', logger, async () => {
  const app = await createCatalogApp({ config, logger });
  logger.info({ url: await app.listen(config.PORT, config.HOST) }, 'catalog listening');
  return app;
});
