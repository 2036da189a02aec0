import { createLogger, runUntilSignal } from '@shopgraph/kit';
import { createShippingApp } from './app.ts';
import { loadShippingConfig } from './config.ts';

const config = loadShippingConfig();
const logger = createLogger('shipping', config.LOG_LEVEL);
await runUntilSignal('shipping', logger, async () => {
  const app = await createShippingApp({ config, logger });
  logger.info({ url: await app.listen(config.PORT, config.HOST) }, 'shipping listening');
  return app;
});
