import { createLogger, runUntilSignal } from '@shopgraph/kit';
import { createCartApp } from './app.ts';
import { loadCartConfig } from './config.ts';

const config = loadCartConfig();
const logger = createLogger('cart', config.LOG_LEVEL);
await runUntilSignal('cart', logger, async () => {
  const app = await createCartApp({ config, logger });
  logger.info({ url: await app.listen(config.PORT, config.HOST) }, 'cart listening');
  return app;
});
