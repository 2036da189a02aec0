import { runUntilSignal } from '@shopgraph/core/lifecycle';
import { createLogger } from '@shopgraph/core/log';
import { createRouterApp } from './app.ts';
import { loadRouterConfig } from './config.ts';

const config = loadRouterConfig();
const logger = createLogger('router', config.LOG_LEVEL);
await runUntilSignal('router', logger, async () => {
  // The supergraph: the registry's with REGISTRY_URL (followed live), else SUPERGRAPH_PATH's.
  const app = await createRouterApp({ config, logger });
  logger.info({ url: await app.listen(config.PORT, config.HOST), supergraph: app.supergraphId() }, 'router listening');
  return app;
});
