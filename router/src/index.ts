import { runUntilSignal } from '@shopgraph/core/lifecycle';
import { createLogger } from '@shopgraph/core/log';
import { readFile } from 'node:fs/promises';
import { createRouterApp } from './app.ts';
import { loadRouterConfig } from './config.ts';

const config = loadRouterConfig();
const logger = createLogger('router', config.LOG_LEVEL);
await runUntilSignal('router', logger, async () => {
  const supergraphSdl = await readFile(config.SUPERGRAPH_PATH, 'utf8').catch((error: unknown) => {
    throw new Error(`Cannot read the supergraph at ${config.SUPERGRAPH_PATH} (run \`npm run compose\`, or set SUPERGRAPH_PATH)`, { cause: error });
  });
  const app = await createRouterApp({ config, logger, supergraphSdl });
  logger.info({ url: await app.listen(config.PORT, config.HOST) }, 'router listening');
  return app;
});
