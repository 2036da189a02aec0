import { pino, type DestinationStream, type Logger } from 'pino';
import { activeSpanIds } from './tracing.ts';

export type { Logger };

/** Never logged, wherever they appear in a logged object (one level deep, as request headers are). */
const SECRETS = ['authorization', 'password', 'token', 'accessToken', 'refreshToken', 'secret', 'cookie', 'DATABASE_URL', 'ELASTICSEARCH_URL', 'REDIS_URL', 'SMTP_URL'];

/**
 * The one logger: JSON lines, the service's name on each, the active trace's ids on every line
 * written inside a traced request or handler, secrets redacted.
 */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info', destination?: DestinationStream): Logger {
  const options = {
    name,
    level,
    base: { service: name },
    mixin: () => activeSpanIds() ?? {},
    redact: { paths: SECRETS.flatMap((key) => [key, `*.${key}`, `*.headers.${key}`]), censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}
