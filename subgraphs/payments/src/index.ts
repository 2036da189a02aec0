import { createLogger, runUntilSignal } from '@shopgraph/kit';
import { createPaymentsApp } from './app.ts';
import { loadPaymentsConfig } from './config.ts';

const config = loadPaymentsConfig();
const logger = createLogger('payments', config.LOG_LEVEL);
await runUntilSignal('payments', logger, async () => {
  const app = await createPaymentsApp({ config, logger });
  logger.info({ url: await app.listen(config.PORT, config.HOST) }, 'payments listening');
  return app;
});
