import { createLogger, runUntilSignal } from '@shopgraph/kit';
import { createAccountsApp } from './app.ts';
import { loadAccountsConfig } from './config.ts';

const config = loadAccountsConfig();
const logger = createLogger('accounts', config.LOG_LEVEL);
await runUntilSignal('accounts', logger, async () => {
  const app = await createAccountsApp({ config, logger });
  logger.info({ url: await app.listen(config.PORT, config.HOST) }, 'accounts listening');
  return app;
});
