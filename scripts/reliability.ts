// `npm run reliability`: regenerates RELIABILITY.md (issue #23's fault and threat matrix) from the
// latest results on this machine: .data/bench/attacks-latest.json (`npm run bench:attacks`) and
// .data/chaos/latest.json (`npm run chaos`), plus the rows the tests prove (tokens and keys,
// limits, half-open connections), each naming its test, which must exist. It runs no benchmark
// unless asked: `npm run reliability -- --run` runs bench:attacks (and chaos, when the repository
// has it) first.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { repoDirs } from '@shopgraph/infra';
import { ATTACK_PLAN, type AttackRow, type AttacksReport } from '../bench/attacks/plan.ts';

const { values: args } = parseArgs({ options: { run: { type: 'boolean', default: false }, out: { type: 'string' }, attacks: { type: 'string' }, chaos: { type: 'string' } } });
const { root, data } = repoDirs();
// Other result files (and another output) can be named: --attacks <file> --chaos <file> --out <file>.
const ATTACKS_FILE = args.attacks ?? join(data, 'bench', 'attacks-latest.json');
const CHAOS_FILE = args.chaos ?? join(data, 'chaos', 'latest.json');
const OUT = args.out ?? join(root, 'RELIABILITY.md');

/** A test that proves a row: its file and the literal of its title (checked to exist). */
interface Proof {
  file: string;
  test: string;
}

/** A row the tests prove, not a benchmark. */
interface TestedRow {
  tried: string;
  happens: string;
  figures: string;
  proofs: Proof[];
}

const TOKENS: TestedRow[] = [
  {
    tried: 'alg `none` (an unsigned token claiming staff)',
    happens: 'refused: 401 `UNAUTHENTICATED` (HTTP), 4401 (WebSocket); algorithms are an allow-list (`JWT_ALGORITHMS`, ES256)',
    figures: 'refused before any subgraph is asked',
    proofs: [
      { file: 'e2e/security.e2e.test.ts', test: 'refuses alg "none"' },
      { file: 'router/test/auth.int.test.ts', test: 'refuses a token that is %s with 401 UNAUTHENTICATED, even for public fields' },
      { file: 'packages/core/src/auth.test.ts', test: 'refuses alg "none", HS256 signed with the public key as secret, and an unknown kid' },
    ],
  },
  {
    tried: 'HS/ES confusion: HS256 signed with the issuer\'s public key (PEM, or JWK) as the HMAC secret',
    happens: 'refused `UNAUTHENTICATED` (algorithm not allowed); even with HS256 allowed, an EC key is no HMAC secret',
    figures: '—',
    proofs: [
      { file: 'e2e/security.e2e.test.ts', test: 'refuses HS256 signed with the public key as the HMAC secret' },
      { file: 'packages/core/src/auth.test.ts', test: 'refuses alg "none", HS256 signed with the public key as secret, and an unknown kid' },
    ],
  },
  {
    tried: 'unknown `kid`; a stranger\'s key claiming a trusted `kid`',
    happens: 'refused: `unknown signing key` (one key-set fetch at most per cool-down), `bad signature`',
    figures: 'no refetch within the cool-down',
    proofs: [
      { file: 'packages/core/src/auth.test.ts', test: 'refuses alg "none", HS256 signed with the public key as secret, and an unknown kid' },
      { file: 'router/test/auth.int.test.ts', test: 'refuses a token that is %s with 401 UNAUTHENTICATED, even for public fields' },
    ],
  },
  {
    tried: 'expired, not yet valid, wrong issuer, wrong audience, signed with the real key',
    happens: 'refused `UNAUTHENTICATED`, the claim named',
    figures: 'clock tolerance `JWT_CLOCK_TOLERANCE_S` (5 s)',
    proofs: [
      { file: 'e2e/security.e2e.test.ts', test: 'refuses expired, not-yet-valid, wrong-issuer and wrong-audience tokens signed with the real key' },
      { file: 'router/test/auth.int.test.ts', test: 'refuses a token that is %s with 401 UNAUTHENTICATED, even for public fields' },
    ],
  },
  {
    tried: 'key rotation: a new key published, the old one removed',
    happens: 'the new key is accepted after the refresh cool-down; the removed one refused once the set is refetched',
    figures: 'cool-down 30 s, key set max age 5 min (defaults)',
    proofs: [{ file: 'packages/core/src/auth.test.ts', test: 'follows key rotation: a new key is accepted after the cool-down, a removed one refused once the set is refetched' }],
  },
  {
    tried: 'the key server down (connection refused), or hanging',
    happens: 'tokens signed with keys already known keep verifying for `JWT_JWKS_STALE_TTL_S` after the last good fetch, then fail closed; unknown keys fail closed',
    figures: 'stale TTL 1 h by default; unknown keys refused within 3 s; a hanging server costs one 3 s timeout per cool-down',
    proofs: [
      { file: 'packages/core/src/auth.test.ts', test: 'keeps verifying with the keys it knew while the key server is down, for the stale TTL; unknown keys fail within 3 s' },
      { file: 'packages/core/src/auth.test.ts', test: 'does not wait on a key server that hangs: the fetch times out within 3 s, then known keys verify without waiting' },
    ],
  },
  {
    tried: 'refresh-token reuse (a spent refresh token comes back)',
    happens: 'the whole token family is revoked: every session descended from it must sign in again',
    figures: '—',
    proofs: [
      { file: 'subgraphs/accounts/test/accounts.int.test.ts', test: 'rotates refresh tokens and revokes the family when a spent one comes back' },
      { file: 'subgraphs/accounts/test/abuse.int.test.ts', test: 'slows down refresh-token guessing per IP' },
    ],
  },
];

const NEW_DOCUMENT_BUDGET: Proof = { file: 'router/test/hostile.int.test.ts', test: 'refuses new documents past the anonymous budget with 429 TOO_MANY_NEW_DOCUMENTS before parsing them, serves known ones, and gives each user a budget of its own' };

/** The tests behind each attack of bench:attacks (the benchmark measures; these prove the refusal). */
const ATTACK_PROOFS: Record<string, Proof[]> = {
  documents: [
    { file: 'router/test/hostile.int.test.ts', test: 'keeps the document and plan caches under their byte bounds, and refuses documents over LIMIT_MAX_DOCUMENT_BYTES' },
    NEW_DOCUMENT_BUDGET,
  ],
  expensive: [
    { file: 'e2e/security.e2e.test.ts', test: 'runs a password hash at most once per operation, however the logins are spread (EXPENSIVE_FIELD_REPEATED)' },
    NEW_DOCUMENT_BUDGET,
  ],
  bruteforce: [
    { file: 'subgraphs/accounts/test/abuse.int.test.ts', test: 'makes one IP guessing one account wait 2^k s past 5 attempts, without hashing; the owner elsewhere signs in; success resets' },
    { file: 'subgraphs/accounts/src/domain/passwords.test.ts', test: 'derives on threads at a lower CPU priority than the event loop’s' },
  ],
  flood: [
    { file: 'router/test/hostile.int.test.ts', test: 'per client IP: 429 with Retry-After and RATE_LIMITED once the window is full, X-Forwarded-For ignored unless trusted' },
    { file: 'router/test/hostile.int.test.ts', test: 'per user, from any IP, on HTTP and WebSocket alike; the WebSocket connection stays' },
    { file: 'router/test/hostile.int.test.ts', test: 'per second too: a burst past RATE_LIMIT_BURST_PER_USER is refused though the minute has room, for about a second; staff are counted by address only' },
    { file: 'router/test/hostile.int.test.ts', test: 'fails open: with Redis away every operation is served (but from a client refused until its Retry-After), and the unchecked ones counted' },
  ],
  websocket: [
    { file: 'router/test/hostile.int.test.ts', test: 'closes a user\\\'s connection beyond LIMIT_MAX_WS_CONNECTIONS_PER_USER with 4029; other users connect' },
    { file: 'router/test/hostile.int.test.ts', test: 'refuses a user\\\'s subscription beyond LIMIT_MAX_SUBSCRIPTIONS_PER_USER on every transport, TOO_MANY_SUBSCRIPTIONS; other users subscribe' },
  ],
  jwt: [{ file: 'router/test/auth.int.test.ts', test: 'refuses a token that is %s with 401 UNAUTHENTICATED, even for public fields' }],
};

const HANGS: TestedRow[] = [
  {
    tried: 'a half-open upstream WebSocket: the path between router and subgraph stops forwarding without closing (a TCP proxy\'s blackhole)',
    happens: 'the router\'s pings go unanswered; it drops the socket and ends its subscriptions with `SUBGRAPH_SUBSCRIPTION_FAILED` (the client resubscribes with its cursor and misses nothing once the path is back); a new subscription meanwhile fails with 4504 within the connect timeout',
    figures: 'detected within `SUBGRAPH_WS_PING_INTERVAL_MS` + `SUBGRAPH_WS_PONG_TIMEOUT_MS` (10 s + 5 s by default; the test runs 200 + 300 ms); connect bounded by `SUBGRAPH_WS_CONNECT_TIMEOUT_MS` (10 s)',
    proofs: [
      { file: 'router/test/half-open.int.test.ts', test: 'is detected within the ping interval and pong timeout, ends the subscription with SUBGRAPH_SUBSCRIPTION_FAILED, fails new ones within the connect timeout, and a resubscription with the cursor misses nothing once the path is back' },
      { file: 'router/src/subgraph-connection.test.ts', test: 'pings an open socket: one that answers stays, one that stops answering is dropped within the pong timeout (1006) and the next operation gets a new socket' },
    ],
  },
];

/** Every client of a dependency and what bounds it (RELIABILITY.md "No client default that hangs"). */
const CLIENTS: [client: string, where: string, bounds: string][] = [
  ['Postgres pool (every subgraph, MikroORM → pg)', 'packages/kit/src/db.ts', 'connect/acquire 5 s; `statement_timeout` 15 s (server); `query_timeout` 20 s (client: a dead server); idle in transaction 30 s; idle connection 30 s; TCP keep-alive after 10 s'],
  ['Postgres outbox relay (dedicated client, advisory lock, LISTEN)', 'packages/kit/src/messaging/relay.ts', 'connect 5 s; `statement_timeout` 15 s; `query_timeout` 20 s; TCP keep-alive after 10 s'],
  ['Redis (cart cache, accounts attempt counters)', 'packages/kit/src/redis.ts', 'connect 1 s; command 300 ms; socket silent 1 s → dropped; no offline queue, no resend; TCP keep-alive after 10 s; reconnects with backoff ≤ 2 s'],
  ['Redis (router rate limits)', 'router/src/rate-limit.ts', 'connect 1 s (a starting router waits up to 2 s for the first connection before it serves); command `RATE_LIMIT_CHECK_TIMEOUT_MS`, 200 ms (then the check fails open); socket silent 1 s → dropped; TCP keep-alive after 10 s'],
  ['Kafka (kafkajs producer, admin, consumers)', 'packages/kit/src/messaging/kafka.ts, consumer.ts', 'connect 3 s; request 10 s; retries ≈ 3 s then the caller decides; consumer sessions 6–30 s with heartbeats of 1–3 s; TCP keep-alive 60 s (kafkajs)'],
  ['Elasticsearch (search)', 'subgraphs/search/src/clients/product-index.client.ts', 'search `SEARCH_TIMEOUT_MS` (2 s, with an abort signal); writes `INDEXING_TIMEOUT_MS` (10 s); no retries; connect 10 s, TCP keep-alive 60 s (undici)'],
  ['Router → subgraph HTTP (undici pool per origin)', 'router/src/subgraphs.ts, packages/core/src/http-client.ts', 'headers and body `SUBGRAPH_TIMEOUT_MS` (30 s) each; connect 10 s, TCP keep-alive 60 s (undici); HTTP keep-alive; a batched request fails or answers all its fetches together'],
  ['Router → subgraph WebSocket (subscriptions)', 'router/src/subgraph-connection.ts', 'connect + upgrade + ack `SUBGRAPH_WS_CONNECT_TIMEOUT_MS` (10 s); ping every `SUBGRAPH_WS_PING_INTERVAL_MS` (10 s), dropped after `SUBGRAPH_WS_PONG_TIMEOUT_MS` (5 s) of silence'],
  ['Service → subgraph GraphQL (queryGraph/postGraphQL: cart, orders, search:reindex)', 'packages/core/src/graphql.ts, http-client.ts', 'the whole exchange, body included, under the caller\'s `timeoutMs` (a timer that aborts the request; e.g. `CHECKOUT_TIMEOUT_MS` 5 s); the same undici pools as the router'],
  ['JWKS fetch (router, subgraphs → accounts)', 'packages/core/src/auth.ts', 'fetch 3 s; at most once per 30 s cool-down on failure; known keys served stale up to `JWT_JWKS_STALE_TTL_S` (1 h)'],
];

const problems: string[] = [];
const sources = new Map<string, string>();
/** `file` › "test" and the command that runs it; records a problem when the title is not in the file. */
function cite(proof: Proof): string {
  let source = sources.get(proof.file);
  if (source === undefined) {
    const path = join(root, proof.file);
    source = existsSync(path) ? readFileSync(path, 'utf8') : '';
    sources.set(proof.file, source);
  }
  if (!source.includes(proof.test)) problems.push(`${proof.file}: no test titled "${proof.test}"`);
  const title = proof.test.replaceAll('\\\'', '\'');
  // -t takes a pattern: the title's start, its special characters escaped.
  const filter = title.split('%s')[0]!.slice(0, 60).replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replaceAll('"', '\\"');
  return `\`${proof.file}\` › “${title}” (\`npx vitest run ${proof.file} -t "${filter}"\`)`;
}

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

if (args.run) {
  const run = (script: string) => {
    console.error(`npm run ${script}`);
    const result = spawnSync('npm', ['run', script], { cwd: root, stdio: 'inherit' });
    // A failed target is a figure too (bench:attacks exits 2 when a ratio is over): generate anyway.
    if (result.status !== 0) console.error(`npm run ${script} exited with ${result.status}`);
  };
  run('bench:attacks');
  const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  if (scripts['chaos']) run('chaos');
}

const out: string[] = [
  '# Reliability',
  '',
  'The fault and threat matrix (issue #23): every row what was tried, what happened, the figures, and',
  'the command that shows it again. Generated by `npm run reliability` from the latest results on the',
  'machine that ran it (`npm run reliability -- --run` measures first); do not edit by hand.',
  '',
  ...attacksSection(),
  ...chaosSection(),
  '## Tokens and keys',
  '',
  '| tried | what happens | figures | proven by |',
  '|---|---|---|---|',
  ...TOKENS.map((row) => `| ${cell(row.tried)} | ${cell(row.happens)} | ${cell(row.figures)} | ${row.proofs.map(cite).join('<br>')} |`),
  '',
  '## No client default that hangs',
  '',
  '| tried | what happens | figures | proven by |',
  '|---|---|---|---|',
  ...HANGS.map((row) => `| ${cell(row.tried)} | ${cell(row.happens)} | ${cell(row.figures)} | ${row.proofs.map(cite).join('<br>')} |`),
  '',
  'Every client of a dependency, and what bounds it:',
  '',
  '| client | where | bounded by |',
  '|---|---|---|',
  ...CLIENTS.map(([client, where, bounds]) => `| ${cell(client)} | \`${where}\` | ${cell(bounds)} |`),
  '',
];

if (problems.length) {
  console.error(`RELIABILITY.md cites tests that do not exist:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
writeFileSync(OUT, out.join('\n'));
console.log(`wrote ${relative(process.cwd(), OUT) || OUT}`);

function attacksSection(): string[] {
  const lines = ['## Hostile traffic: legitimate latency during each attack', ''];
  if (!existsSync(ATTACKS_FILE)) {
    return [...lines, `No result yet on this machine: \`npm run bench:attacks\` (writes \`${relative(root, ATTACKS_FILE)}\`), then \`npm run reliability\`.`, '',
      '| attack | tried | expected | proven by |', '|---|---|---|---|',
      ...Object.entries(ATTACK_PLAN).map(([name, plan]) => `| ${name} | ${cell(plan.what)} | ${cell(plan.expect)} | ${(ATTACK_PROOFS[name] ?? []).map(cite).join('<br>')} |`), ''];
  }
  const report = JSON.parse(readFileSync(ATTACKS_FILE, 'utf8')) as AttacksReport;
  const { machine, options } = report;
  lines.push(
    `Target: legitimate p99 during each attack ≤ ${report.targetRatio}× without it. Measured with \`${report.command}\` on ${report.startedAt.slice(0, 10)}`,
    `(${machine.cpuModel}, ${machine.nproc} CPUs, ${machine.memoryGiB} GiB, Node ${machine.node}; load average ${report.loadAverage.start} at the start, ${report.loadAverage.end} at the end).`,
    `The whole supergraph as processes on that one machine, every limit at its default. Legitimate load: ${report.legitimate}.`,
    `Per attack, ${options.rounds} rounds of a ${options.seconds} s window without it and one with it (in turn without-with, with-without), the attack`,
    `from a process of its own at the lowest CPU priority (a real attacker's CPU is its own), started ${options.attackWarmupS} s before its window; each p99 is over`,
    `all the rounds' windows together.${report.routerRssMiB === undefined ? '' : ` Router RSS before the first attack: ${report.routerRssMiB} MiB.`}`,
  );
  if (report.error) lines.push('', `**The run failed**: ${report.error.split('\n')[0]}`);
  lines.push(
    '',
    '| attack | tried | what happened (the attacker got back) | legitimate p50 / p99 with (ms) | without (ms) | p99 × | per round, p99 with / without (ms) | ≤ target | router RSS MiB before → after | proven by |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...report.attacks.map((row) => attackRow(row)),
    '',
  );
  return lines;
}

function attackRow(row: AttackRow): string {
  const got = 'outcomes' in row.attacker
    ? `${row.attacker.sent} sent at ${row.attacker.rate}/s: ${Object.entries(row.attacker.outcomes).sort(([, a], [, b]) => b - a).map(([outcome, n]) => `${outcome} ×${n}`).join(', ')}`
    : row.attacker.error;
  const failed = Object.entries(row.legit.failures).map(([reason, n]) => `${reason} ×${n}`).join(', ');
  const legit = `${row.legit.p50Ms} / ${row.legit.p99Ms}${failed ? ` (legitimate failures: ${failed})` : ''}`;
  const rounds = row.rounds.map((r) => `${r.withP99Ms} / ${r.withoutP99Ms}`).join('<br>');
  return `| ${row.attack} | ${cell(row.what)} | ${cell(got)} | ${cell(legit)} | ${row.without.p50Ms} / ${row.without.p99Ms} | ${row.p99Ratio} | ${rounds} | ${row.pass ? 'yes' : '**no**'} | ${row.routerRssMiB.before} → ${row.routerRssMiB.after} | ${(ATTACK_PROOFS[row.attack] ?? []).map(cite).join('<br>')} |`;
}

/**
 * The section of the RELIABILITY.md there is, from its heading to the next: what an earlier run
 * measured, kept when this machine has no result of its own (a fresh checkout has none).
 */
function previousSection(heading: string): string[] | undefined {
  if (!existsSync(OUT)) return undefined;
  const lines = readFileSync(OUT, 'utf8').split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) return undefined;
  const end = lines.findIndex((line, i) => i > start && line.startsWith('## '));
  const section = lines.slice(start, end < 0 ? undefined : end);
  return section.some((line) => line.includes('not run on this machine yet')) ? undefined : section;
}

function chaosSection(): string[] {
  const heading = '## Faults under load (`npm run chaos`)';
  const lines = [heading, ''];
  if (!existsSync(CHAOS_FILE)) {
    const previous = previousSection(heading);
    if (previous) return previous;
    return [...lines, '| tried | what happened | figures | command |', '|---|---|---|---|',
      `| K checkouts through the router under a seeded random schedule of faults (kills and restarts of Kafka, consumers, relay leaders, subgraphs, the router; Postgres connections terminated, a database paused; Redis and Elasticsearch stopped) | not run on this machine yet | — | \`npm run chaos\` (writes \`${relative(root, CHAOS_FILE)}\`), then \`npm run reliability\` |`, ''];
  }
  return [...lines, ...chaosRows(JSON.parse(readFileSync(CHAOS_FILE, 'utf8')) as ChaosResult), ''];
}

/** The chaos run's result, as documented at the top of scripts/chaos.ts (version 1); only what is shown here. */
interface ChaosResult {
  version: number;
  ok: boolean;
  seed: number;
  options: { checkouts: number; faults: number; concurrency: number; kinds: string[]; poison: number; duplicates: number };
  startedAt: string;
  durationS: number;
  invariants: { name: string; value: number; expected: string; ok: boolean; detail?: string }[];
  faults: { n: number; kind: string; target: string; atS: number; downS: number; startedAtS: number; readyMs: number | null; recoveryMs: number | null; note?: string; error?: string }[];
  recovery: { p50Ms: number; maxMs: number; notRecovered: number };
  checkouts: { planned: number; placed: number; refused: number; gaveUp: number; cancelled: number };
  outcomes: Record<string, number>;
  duplicates: { injected: number; absorbed: number };
  poison: { sent: number; deadLetterTopics: number };
}

function chaosRows(result: ChaosResult): string[] {
  const { options } = result;
  const command = `npm run chaos -- --checkouts ${options.checkouts} --seed ${result.seed} --faults ${options.faults} --concurrency ${options.concurrency} --kinds ${options.kinds.join(',')} --poison ${options.poison} --duplicates ${options.duplicates}`;
  const failed = result.invariants.filter((i) => !i.ok).map((i) => `${i.name} = ${i.value} (expected ${i.expected})`);
  const outcomes = Object.entries(result.outcomes).map(([status, n]) => `${status} ${n}`).join(', ');
  const ms = (value: number | null) => (value === null ? '—' : String(Math.round(value)));
  return [
    `Run on ${result.startedAt.slice(0, 10)}, ${Math.round(result.durationS)} s.`,
    '',
    '| tried | what happened | figures | command |',
    '|---|---|---|---|',
    `| ${result.checkouts.planned} checkouts through the router under ${result.faults.length} seeded faults (${[...new Set(result.faults.map((f) => f.kind))].join(', ')}), ${result.duplicates.injected} duplicate and ${result.poison.sent} poison messages injected | ${result.ok ? 'every invariant held' : `**invariants failed**: ${cell(failed.join('; '))}`} | placed ${result.checkouts.placed}, refused ${result.checkouts.refused}, gave up ${result.checkouts.gaveUp}; outcomes: ${cell(outcomes)}; recovery after a fault p50 ${ms(result.recovery.p50Ms)} ms, max ${ms(result.recovery.maxMs)} ms, not recovered ${result.recovery.notRecovered}; duplicates absorbed ${result.duplicates.absorbed} | \`${command}\` |`,
    '',
    '| invariant | value | expected | held |',
    '|---|---|---|---|',
    ...result.invariants.map((i) => `| ${cell(i.name)}${i.detail ? ` (${cell(i.detail)})` : ''} | ${i.value} | ${cell(i.expected)} | ${i.ok ? 'yes' : '**no**'} |`),
    '',
    '| # | fault | at s | down s | target ready after (ms) | first order after it final (ms) | note |',
    '|---|---|---|---|---|---|---|',
    ...result.faults.map((f) => `| ${f.n} | ${cell(`${f.kind} → ${f.target}`)} | ${f.startedAtS ?? f.atS} | ${f.downS} | ${ms(f.readyMs)} | ${ms(f.recoveryMs)} | ${cell([f.note, f.error].filter(Boolean).join('; '))} |`),
  ];
}
