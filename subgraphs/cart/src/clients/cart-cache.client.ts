import { rateLimited, type Logger, type RedisClient } from '@shopgraph/kit';
import { randomBytes, randomUUID } from 'node:crypto';
import type { CartCache, CartLoader } from '../domain/cart-cache.ts';
import type { CartView } from '../domain/cart.service.ts';

// Cache-aside for carts in Redis, and why it never serves a cart older than a change its reader
// saw succeed.
//
// Keys (after REDIS_KEY_PREFIX):
//   cart:epoch     a random token. Entries are stamped with the epoch they were written in and
//                  count only while it is current, so setting a new one drops every entry at once.
//                  No epoch: nothing is read from or written to the cache.
//   cart:v1:<owner>
//                  `<epoch>|<cart as JSON>`, for CART_CACHE_TTL_S (v1: the JSON's shape, CartView;
//                  a new shape gets a new version, so processes of two releases never mix them).
//   cart:gen:<owner>
//                  a random token (same TTL), the cart's "fill ticket": made by the first reader that
//                  misses, deleted with the entry by every change.
//
// Read: one script returns each entry of the current epoch, or for a miss the ticket
// (epoch, gen), creating gen when absent. Then Postgres is read, then the fill script writes the
// entry only if the epoch and the gen are still the ones of the ticket.
// Change: after the transaction commits, and before the change is reported, DEL entry and gen.
//
// The race "a reader misses and reads Postgres (old), a writer commits and deletes, the reader
// writes the old cart" cannot leave an old cart: the reader took its ticket before reading
// Postgres, so its gen is one the writer's DEL removed; gen tokens are random and never come back
// (a new reader makes a new one), so the fill's compare fails. A fill that does pass had a ticket
// taken after the last DEL, i.e. it read Postgres after that change committed. An expired or
// evicted gen only makes fills fail. Concurrent misses in one process share one Postgres read only
// when their tickets are equal: equal random tokens mean no change was invalidated between them,
// so the shared read started after every change either reader could have seen succeed.
//
// When Redis cannot be asked (not connected, or a command failed or timed out) reads go straight
// to Postgres, without coalescing (there is no ticket to prove a shared read fresh), and nothing is
// filled. A DEL that failed (or may have) could leave an old entry in Redis, as can a Redis that
// lost writes (restarted from a snapshot, failed over to a replica that lagged): so after a failed
// invalidation or any lost connection this process stops using the cache until it has set a new
// epoch, which makes every entry written before dead. A process also sets one when it starts
// (it has never been connected), which drops what a process killed between a commit and its DEL
// left behind once any process (re)starts. Left open, by design: while one process cannot reach
// Redis (or from a failed DEL until its new epoch, usually milliseconds) other processes that can
// may still serve an entry that DEL should have removed; CART_CACHE_TTL_S bounds that, as it
// bounds the entry a killed process left until the next start.
//
// The scripts touch the epoch key and an owner's keys together: one Redis server (or Sentinel
// pair), not a Redis Cluster.

/** What the scripts return for a miss: `!` then the ticket, `<epoch> <gen>` (no epoch: `!` alone). */
const MISS = '!';

/** KEYS: epoch, then entry and gen per owner. ARGV: gen TTL (s), a token base for new gens. */
const READ = `
local epoch = redis.call('GET', KEYS[1])
local out = {}
for i = 2, #KEYS, 2 do
  local entry = epoch and redis.call('GET', KEYS[i])
  local sep = entry and string.find(entry, '|', 1, true)
  if sep and string.sub(entry, 1, sep - 1) == epoch then
    out[#out + 1] = string.sub(entry, sep + 1)
  elseif not epoch then
    out[#out + 1] = '${MISS}'
  else
    local gen = redis.call('GET', KEYS[i + 1])
    if not gen then
      gen = ARGV[2] .. '.' .. i
      redis.call('SET', KEYS[i + 1], gen, 'EX', ARGV[1])
    end
    out[#out + 1] = '${MISS}' .. epoch .. ' ' .. gen
  end
end
return out`;

/** KEYS: epoch, then entry and gen per owner. ARGV: TTL (s), the ticket's epoch, then gen and JSON per owner. */
const FILL = `
if redis.call('GET', KEYS[1]) ~= ARGV[2] then return 0 end
local filled = 0
for i = 2, #KEYS, 2 do
  if redis.call('GET', KEYS[i + 1]) == ARGV[i + 1] then
    redis.call('SET', KEYS[i], ARGV[2] .. '|' .. ARGV[i + 2], 'EX', ARGV[1])
    filled = filled + 1
  end
end
return filled`;

interface Scripts {
  cartRead(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<string[]>;
  cartFill(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<number>;
}

export interface RedisCartCacheOptions {
  client: RedisClient;
  /** REDIS_KEY_PREFIX: the cache's keys are `<prefix>cart:…`. */
  keyPrefix: string;
  /** CART_CACHE_TTL_S. */
  ttlSeconds: number;
  logger: Logger;
  /** Test seam: runs after a miss was read from Postgres, before the entry is written to Redis. */
  beforeFill?: (userIds: readonly string[]) => Promise<void> | void;
}

/** A load of carts in flight, which concurrent readers holding the same ticket share. */
interface Flight {
  ticket: string;
  cart: Promise<CartView>;
}

/** The cart cache on Redis (see the scheme above). Never rejects because of Redis. */
export function redisCartCache(options: RedisCartCacheOptions): CartCache {
  const { client, ttlSeconds } = options;
  const redis = client.redis as typeof client.redis & Scripts;
  redis.defineCommand('cartRead', { lua: READ });
  redis.defineCommand('cartFill', { lua: FILL });
  const log = options.logger.child({ component: 'cart-cache' });
  const warn = rateLimited(30_000);
  const failed = (what: string, error: unknown) => warn((suppressed) => log.warn({ err: error, suppressed }, `cart cache: ${what} failed; carts come from Postgres`));

  const epochKey = `${options.keyPrefix}cart:epoch`;
  const entryKey = (userId: string) => `${options.keyPrefix}cart:v1:${userId}`;
  const genKey = (userId: string) => `${options.keyPrefix}cart:gen:${userId}`;
  const keysOf = (userIds: readonly string[]) => userIds.flatMap((userId) => [entryKey(userId), genKey(userId)]);

  // Whether this process may use the cache: it has set an epoch since it last lost the connection
  // or failed an invalidation. `doubts` counts those events, so a new epoch set while another
  // happened does not restore trust.
  let trusted = false;
  let doubts = 0;
  let renewing = false;
  const renewEpoch = (): void => {
    if (trusted || renewing || !client.ready) return;
    renewing = true;
    const before = doubts;
    client.redis
      .set(epochKey, randomUUID())
      .then(
        () => {
          trusted = doubts === before;
          if (trusted) log.debug('cart cache: new epoch; cache in use');
        },
        (error: unknown) => failed('setting a new epoch', error),
      )
      .finally(() => {
        renewing = false;
        // Doubted again meanwhile: once more (a failed attempt waits for the next read or reconnection).
        if (!trusted && doubts !== before) renewEpoch();
      });
  };
  const doubt = (): void => {
    trusted = false;
    doubts++;
    renewEpoch();
  };
  client.onReady(renewEpoch);
  client.onLost(doubt);
  renewEpoch();

  const inFlight = new Map<string, Flight>();

  async function fill(misses: readonly { userId: string; ticket: string }[], carts: Map<string, CartView>): Promise<void> {
    await options.beforeFill?.(misses.map((m) => m.userId));
    const [epoch] = misses[0]!.ticket.split(' ');
    if (!trusted || !client.ready || !epoch) return;
    const args = misses.flatMap(({ userId, ticket }) => [ticket.split(' ')[1]!, JSON.stringify(carts.get(userId))]);
    try {
      await redis.cartFill(1 + misses.length * 2, epochKey, ...keysOf(misses.map((m) => m.userId)), ttlSeconds, epoch, ...args);
    } catch (error) {
      // Nothing or a current entry was written: a fill that runs late is checked against the ticket all the same.
      failed('filling', error);
    }
  }

  /** Reads the misses from Postgres once, shares the read with readers of the same tickets, fills Redis. */
  async function loadAndFill(misses: { userId: string; ticket: string }[], load: CartLoader, found: Map<string, CartView>): Promise<void> {
    const loading = load(misses.map((m) => m.userId));
    const flights = misses.map(({ userId, ticket }) => {
      const flight: Flight = { ticket, cart: loading.then((carts) => carts.get(userId)!) };
      flight.cart.catch(() => {}); // a failed load rejects for whoever awaits it; nobody may
      inFlight.set(userId, flight);
      return [userId, flight] as const;
    });
    try {
      const carts = await loading;
      for (const { userId } of misses) found.set(userId, carts.get(userId)!);
      // Readers arriving until the entry is in Redis still share this read.
      await fill(misses, carts);
    } finally {
      for (const [userId, flight] of flights) if (inFlight.get(userId) === flight) inFlight.delete(userId);
    }
  }

  return {
    async cartsOf(userIds, load) {
      if (!trusted || !client.ready) {
        renewEpoch();
        return load(userIds);
      }
      let answers: string[];
      try {
        answers = await redis.cartRead(1 + userIds.length * 2, epochKey, ...keysOf(userIds), ttlSeconds, randomBytes(9).toString('base64url'));
      } catch (error) {
        failed('reading', error);
        return load(userIds);
      }
      if (answers.length !== userIds.length || answers.includes(MISS)) {
        // No epoch (a new or flushed Redis, an evicted key): nothing is cached until one is set.
        doubt();
        return load(userIds);
      }
      const found = new Map<string, CartView>();
      const misses: { userId: string; ticket: string }[] = [];
      const shared: Promise<void>[] = [];
      for (const [i, userId] of userIds.entries()) {
        const answer = answers[i]!;
        if (!answer.startsWith(MISS)) {
          found.set(userId, JSON.parse(answer) as CartView);
          continue;
        }
        const ticket = answer.slice(MISS.length);
        const flight = inFlight.get(userId);
        if (flight?.ticket === ticket) shared.push(flight.cart.then((cart) => void found.set(userId, cart)));
        else misses.push({ userId, ticket });
      }
      if (misses.length) shared.push(loadAndFill(misses, load, found));
      await Promise.all(shared);
      return found;
    },

    async invalidate(userIds) {
      // A load of this process that began before the change must not be shared from now on.
      for (const userId of userIds) inFlight.delete(userId);
      if (!client.ready) return doubt();
      try {
        await client.redis.del(...keysOf(userIds));
      } catch (error) {
        failed('invalidating', error);
        doubt();
      }
    },
  };
}
