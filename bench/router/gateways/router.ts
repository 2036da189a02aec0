// (a) Our router, as deployed: router/src/app.ts's createRouterApp with its configuration from the
// environment (loadRouterConfig), so JWTs are verified by the kit's verifier against the issuer's
// JWKS URL (JWT_JWKS_URL; the harness serves a test issuer's keys), with the verified-token cache,
// authorization plugin and operation limits of production; the supergraph from SUPERGRAPH_PATH, or
// with REGISTRY_URL from the registry, usage reported to it (`router-usage`). Stops cleanly on
// SIGTERM (so that `node --cpu-prof` can write its profile).
import { runUntilSignal } from '@shopgraph/core/lifecycle';
import { createLogger } from '@shopgraph/core/log';
import { createRouterApp } from '../../../router/src/app.ts';
import { loadRouterConfig } from '../../../router/src/config.ts';

const config = loadRouterConfig();
const logger = createLogger('router', config.LOG_LEVEL);
await runUntilSignal('router', logger, async () => {
  const app = await createRouterApp({ config, logger });
  logger.info({ url: await app.listen(config.PORT, config.HOST) }, 'router listening');
  return app;
});
