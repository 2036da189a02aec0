import { createLogger, runUntilSignal } from '@shopgraph/kit';
import { createOrdersApp } from './app.ts';
import { loadOrdersConfig } from './config.ts';

const config = loadOrdersConfig();
const logger = createLogger('orders', config.LOG_LEVEL);
await runUntilSignal('orders', logger, async () => {
  const app = await createOrdersApp({ config, logger });
  logger.info({ url: await app.listen(config.PORT, config.HOST) }, 'orders listening');
  return app;
});
