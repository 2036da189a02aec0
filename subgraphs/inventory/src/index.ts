import { createLogger, runUntilSignal } from '@shopgraph/kit';
import { createInventoryApp } from './app.ts';
import { loadInventoryConfig } from './config.ts';

const config = loadInventoryConfig();
const logger = createLogger('inventory', config.LOG_LEVEL);
await runUntilSignal('inventory', logger, async () => {
  const app = await createInventoryApp({ config, logger });
  logger.info({ url: await app.listen(config.PORT, config.HOST) }, 'inventory listening');
  return app;
});
