// Differential tests of the router's own query-plan executor (execution.ts, response-shape.ts)
// against @apollo/gateway's executeQueryPlan, which it replaces and must answer exactly like: the
// same `data` (key order included), `errors` and `extensions`, over a supergraph composed here
// from in-process subgraphs (graphql-js + buildSubgraphSchema) that can misbehave on demand.
// Every case also checks the expected answer itself, so both executors being wrong alike fails too.
import { composeServices } from '@apollo/composition';
import { Supergraph } from '@apollo/federation-internals';
import { buildOperationContext, executeQueryPlan, type GraphQLDataSource } from '@apollo/gateway';
import { buildSubgraphSchema, type GraphQLResolverMap } from '@apollo/subgraph';
import { graphql, GraphQLError, parse, validate, type DocumentNode, type ExecutionResult, type GraphQLFormattedError } from 'graphql';
import { describe, expect, it, vi } from 'vitest';
import { guildSubgraphs } from '../../bench/router/subgraphs/guild.ts';
import { workloads } from '../../bench/router/workloads.ts';
import { createPlanExecution, type ExecutionRequest, type IncrementalPayload } from './execution.ts';
import type { executeQueryPlan as GatewayExecute } from '@apollo/gateway';

// ---------------------------------------------------------------------------------------------
// Subgraphs: the Guild benchmark's four (users, products, reviews, @requires/@provides), plus
// `library` (an entity interface, a union, enums, non-null fields, a custom scalar, a mutation),
// `shelf` (Book entity fields, one through @requires, and a mutation reading library's writes)
// and `ratings` (an @interfaceObject).

/** Misbehaviour a resolver shows when asked. */
type Fault =
  | 'book-throws' // library Query.book throws a plain Error (no code)
  | 'book-throws-coded' // library Query.book throws with extensions.code FORBIDDEN
  | 'genre-draft' // library Book 2's genre is DRAFT, an @inaccessible enum value (not in the API schema)
  | 'search-draft' // library search also returns a Draft, an @inaccessible union member
  | 'shelf-throws' // shelf Book.shelf (nullable) throws for book 2
  | 'stock-throws' // shelf Book.stock (non-null) throws, coded, for book 2: its `_entities` element is null
  | 'entity-throws' // shelf Book.__resolveReference rejects for book 2: its `_entities` element is null
  | 'entities-throw'; // shelf Book.__resolveReference throws at once for book 2: the whole `_entities` is null

interface BookRecord {
  kind: 'Book';
  id: string;
  title: string;
  genre: string;
  pages: number;
  author: { name: string; born: number };
  published: unknown;
  tags: string[] | null;
}
interface FilmRecord {
  kind: 'Film';
  id: string;
  title: string;
  genre: string;
  minutes: number;
  director: { name: string; born: number } | null;
}
interface Ctx {
  faults: ReadonlySet<Fault>;
  /** Per run: mutations write to it. */
  books: BookRecord[];
  films: FilmRecord[];
}

const newStore = (): Pick<Ctx, 'books' | 'films'> => ({
  books: [
    { kind: 'Book', id: '1', title: 'Dune', genre: 'FICTION', pages: 412, author: { name: 'Frank Herbert', born: 1920 }, published: '1965-08-01', tags: ['classic', 'desert'] },
    { kind: 'Book', id: '2', title: 'Cosmos', genre: 'SCIENCE', pages: 365, author: { name: 'Carl Sagan', born: 1934 }, published: { year: 1980, month: 9 }, tags: [] },
    { kind: 'Book', id: '3', title: 'SPQR', genre: 'HISTORY', pages: 608, author: { name: 'Mary Beard', born: 1955 }, published: null, tags: null },
  ],
  films: [
    { kind: 'Film', id: 'f1', title: 'Alien', genre: 'FICTION', minutes: 117, director: { name: 'Ridley Scott', born: 1937 } },
    { kind: 'Film', id: 'f2', title: 'Apollo 13', genre: 'HISTORY', minutes: 140, director: null },
  ],
});

/** Books and films interleaved: Book 1, Film f1, Book 2, Film f2, Book 3. */
const mediaOf = ({ books, films }: Ctx) => books.flatMap((book, i) => (films[i] ? [book, films[i]] : [book]));

const FEDERATION = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3"';

const library = {
  name: 'library',
  typeDefs: parse(`
    ${FEDERATION}, import: ["@key", "@inaccessible"])
    scalar DateTime
    enum Genre { FICTION SCIENCE HISTORY DRAFT @inaccessible }
    interface Media @key(fields: "id") { id: ID! title: String! genre: Genre }
    type Author { name: String! born: Int }
    type Book implements Media @key(fields: "id") {
      id: ID!
      title: String!
      genre: Genre
      pages: Int
      author: Author!
      published: DateTime
      tags: [String!]
    }
    type Film implements Media @key(fields: "id") { id: ID! title: String! genre: Genre minutes: Int director: Author }
    type Draft @inaccessible { id: ID! }
    union SearchResult = Book | Film | Author | Draft
    type Query {
      media(first: Int = 10): [Media!]!
      book(id: ID!): Book
      requiredBook(id: ID!): Book!
      search(term: String!): [SearchResult]
      echo(value: String!, times: Int = 1): [String!]
    }
    type Mutation { addBook(title: String!): Book! }
  `),
  resolvers: {
    Query: {
      media: (_: unknown, { first }: { first: number }, ctx: Ctx) => mediaOf(ctx).slice(0, first),
      book: (_: unknown, { id }: { id: string }, ctx: Ctx) => {
        if (ctx.faults.has('book-throws')) throw new Error(`Book ${id} fell off the shelf`);
        if (ctx.faults.has('book-throws-coded')) throw new GraphQLError('Members only', { extensions: { code: 'FORBIDDEN', reason: 'no card' } });
        return ctx.books.find((b) => b.id === id) ?? null;
      },
      requiredBook: (_: unknown, { id }: { id: string }, ctx: Ctx) => ctx.books.find((b) => b.id === id),
      // Titles and authors containing the term, in store order.
      search: (_: unknown, { term }: { term: string }, ctx: Ctx) => {
        const has = (text: string) => text.toLowerCase().includes(term.toLowerCase());
        const found: object[] = [...mediaOf(ctx).filter((m) => has(m.title)), ...ctx.books.map((b) => ({ kind: 'Author', ...b.author })).filter((a) => has(a.name))];
        return ctx.faults.has('search-draft') ? [...found, { kind: 'Draft', id: 'd1' }] : found;
      },
      echo: (_: unknown, { value, times }: { value: string; times: number }) => Array.from({ length: times }, (_v, i) => `${value}${i}`),
    },
    Mutation: {
      addBook: async (_: unknown, { title }: { title: string }, ctx: Ctx) => {
        await new Promise((resolve) => setTimeout(resolve, 5)); // a slow write: a mutation run in parallel would be caught out
        const book: BookRecord = { kind: 'Book', id: String(ctx.books.length + 1), title, genre: 'FICTION', pages: 1, author: { name: 'Anon', born: 2000 }, published: null, tags: null };
        ctx.books.push(book);
        return book;
      },
    },
    Media: {
      __resolveType: (media: { kind: string }) => media.kind,
      __resolveReference: ({ id }: { id: string }, ctx: Ctx) => mediaOf(ctx).find((m) => m.id === id),
    },
    SearchResult: { __resolveType: (result: { kind: string }) => result.kind },
    Book: {
      __resolveReference: ({ id }: { id: string }, ctx: Ctx) => ctx.books.find((b) => b.id === id),
      genre: (book: BookRecord, _: unknown, ctx: Ctx) => (ctx.faults.has('genre-draft') && book.id === '2' ? 'DRAFT' : book.genre),
    },
    Film: { __resolveReference: ({ id }: { id: string }, ctx: Ctx) => ctx.films.find((f) => f.id === id) },
  },
};

const shelf = {
  name: 'shelf',
  typeDefs: parse(`
    ${FEDERATION}, import: ["@key", "@external", "@requires"])
    type Book @key(fields: "id") {
      id: ID!
      shelf: String
      stock: Int!
      pages: Int @external
      weightClass: String @requires(fields: "pages")
    }
    type User @key(fields: "id") { id: ID! favouriteBook: Book }
    type Mutation { countBooks: Int! }
  `),
  resolvers: {
    Book: {
      __resolveReference: (ref: { id: string }, ctx: Ctx) => {
        if (ctx.faults.has('entities-throw') && ref.id === '2') throw new Error('Shelf index corrupt');
        if (ctx.faults.has('entity-throws') && ref.id === '2') return Promise.reject(new Error('No shelf record for book 2'));
        return ref;
      },
      shelf: ({ id }: { id: string }, _: unknown, ctx: Ctx) => {
        if (ctx.faults.has('shelf-throws') && id === '2') throw new Error('Shelf label unreadable');
        return `A-${id}`;
      },
      stock: ({ id }: { id: string }, _: unknown, ctx: Ctx) => {
        if (ctx.faults.has('stock-throws') && id === '2') throw new GraphQLError('Stock count unavailable', { extensions: { code: 'STOCK_UNAVAILABLE' } });
        return Number(id) * 3;
      },
      weightClass: ({ pages }: { pages?: number | null }) => (pages == null ? null : pages > 500 ? 'heavy' : 'light'),
    },
    // Users 1–6 like books 1, 2, 3, none, 2, 3.
    User: { favouriteBook: ({ id }: { id: string }) => (id === '4' ? null : { id: String(((Number(id) - 1) % 3) + 1) }) },
    Mutation: { countBooks: (_: unknown, __: unknown, ctx: Ctx) => ctx.books.length },
  },
};

/** Adds a field to every Media through @interfaceObject: plans with rewrites, which the router leaves to the gateway. */
const ratings = {
  name: 'ratings',
  typeDefs: parse(`
    ${FEDERATION}, import: ["@key", "@interfaceObject"])
    type Media @key(fields: "id") @interfaceObject { id: ID! rating: Int }
  `),
  resolvers: {
    Media: { __resolveReference: (ref: { id: string }) => ref, rating: ({ id }: { id: string }) => (id.startsWith('f') ? 4 : 5) },
  },
};

const subgraphs = [...guildSubgraphs, library, shelf, ratings].map(({ name, typeDefs, resolvers }) => ({
  name,
  typeDefs,
  schema: buildSubgraphSchema([{ typeDefs, resolvers: resolvers as GraphQLResolverMap<unknown> }]),
}));
type ServiceName = 'accounts' | 'inventory' | 'products' | 'reviews' | 'library' | 'shelf' | 'ratings';

const composed = composeServices(subgraphs.map(({ name, typeDefs }) => ({ name, typeDefs, url: `http://${name}.test/graphql` })));
if (composed.errors) throw new Error(`Composition failed:\n${composed.errors.map((e) => e.message).join('\n')}`);
const supergraphSdl = composed.supergraphSdl;

// The gateway's arguments, as createPlanExecution builds its own.
const supergraph = Supergraph.build(supergraphSdl);
const apiSchema = supergraph.apiSchema();
const supergraphSchema = supergraph.schema.toGraphQLJSSchema();
const execution = createPlanExecution(supergraphSdl);

// ---------------------------------------------------------------------------------------------
// Running one operation through both executors.

/** What a subgraph answers, as JSON; a scenario may corrupt it before the executor sees it. */
interface Answer {
  data?: Record<string, any> | null;
  errors?: GraphQLFormattedError[];
}
interface Scenario {
  faults?: Fault[];
  /** Changes a subgraph's answer on the wire (what graphql-js itself would never send). */
  tamper?: Partial<Record<ServiceName, (answer: Answer, variables: Record<string, any>) => void>>;
  /** Data sources that throw, as on a network failure. */
  down?: ServiceName[];
}
interface Call {
  service: string;
  query: string;
  variables: Record<string, unknown>;
}

/** Fresh data sources (fresh answers, fresh store) for one run, and the requests they get. */
function dataSources({ faults = [], tamper = {}, down = [] }: Scenario) {
  const ctx: Ctx = { faults: new Set(faults), ...newStore() };
  const calls: Call[] = [];
  const services: Record<string, GraphQLDataSource> = {};
  for (const { name, schema } of subgraphs) {
    services[name] = {
      async process({ request }) {
        const variables = JSON.parse(JSON.stringify(request.variables ?? {})) as Record<string, any>;
        calls.push({ service: name, query: request.query!, variables });
        if (down.includes(name as ServiceName)) throw new Error(`request to http://${name}.test/graphql failed, reason: connect ECONNREFUSED`);
        const result = await graphql({ schema, source: request.query!, variableValues: variables, operationName: request.operationName ?? null, contextValue: ctx });
        const answer = JSON.parse(JSON.stringify(result)) as Answer;
        tamper[name as ServiceName]?.(answer, variables);
        return answer;
      },
    };
  }
  return { services, calls };
}

interface Request {
  query: string;
  operationName?: string;
  variables?: Record<string, unknown>;
}

const requestContext = ({ query, operationName, variables }: Request, document: DocumentNode) =>
  ({
    request: { query, variables, operationName },
    context: {},
    metrics: {},
    logger: console,
    document,
    operationName: operationName ?? null,
    source: query,
    schema: execution.schema,
    queryHash: '',
  }) as unknown as Parameters<typeof GatewayExecute>[2];

/** The same request, as the router's executor takes it. */
const executionRequest = ({ variables }: Request): ExecutionRequest => ({ variables, context: {} });

/** A result as a client gets it: JSON (errors by their class too: a data source's own Error is not a GraphQLError). */
interface Plain {
  data?: any;
  errors?: Array<{ class: string; message: string; path?: Array<string | number>; extensions?: Record<string, any> }>;
  extensions?: Record<string, any>;
}
function plain(result: ExecutionResult): Plain {
  const out: Plain = {};
  if (result.data !== undefined) out.data = JSON.parse(JSON.stringify(result.data)) as unknown;
  if (result.errors !== undefined) {
    out.errors = result.errors.map((error: Error) => ({
      class: error.constructor.name,
      ...(JSON.parse(JSON.stringify(error instanceof GraphQLError ? error : { message: error.message })) as { message: string }),
    }));
  }
  if (result.extensions !== undefined) out.extensions = JSON.parse(JSON.stringify(result.extensions)) as Record<string, any>;
  return out;
}

const sortedCalls = (calls: Call[]) => calls.map((call) => JSON.stringify(call)).sort();

/** Runs `request` through the router's executor and the gateway's, each with its own fresh data sources. */
async function runBoth(request: Request, scenario: Scenario = {}) {
  const document = parse(request.query);
  expect(validate(execution.schema, document), 'the test operation is valid against the API schema').toEqual([]);
  const prepared = execution.prepare(`${request.operationName ?? ''}\n${request.query}`, document, request.operationName);

  const routerRun = dataSources(scenario);
  const router = await execution.execute(prepared, routerRun.services, executionRequest(request));

  const gatewayRun = dataSources(scenario);
  const operationContext = buildOperationContext({ schema: execution.schema, operationDocument: document, operationName: request.operationName });
  const gateway = await executeQueryPlan(prepared.plan, gatewayRun.services, requestContext(request, document), operationContext, supergraphSchema, apiSchema);

  return { prepared, router, gateway, routerCalls: routerRun.calls, gatewayCalls: gatewayRun.calls };
}

// ---------------------------------------------------------------------------------------------
// The cases.

interface Case extends Request {
  name: string;
  scenario?: Scenario;
  /** The router hands this plan to the gateway's executor (introspection, condition nodes...). */
  delegated?: boolean;
  /** Where the gateway answers the same data with keys in another order (the router keeps the spec's). */
  keyOrder?: { router: string[]; gateway: string[] };
  /** The expected answer (checked on both executors' results), and what the subgraphs were asked. */
  check(result: Plain, calls: Call[]): void;
}

const heavy = workloads.find((w) => w.name === 'guild-heavy')!.body;
const MEDIA_SHELVES = '{ media { id ... on Book { shelf } } }';
const valueCompletion = (...errors: Array<[message: string, path: Array<string | number>]>) => ({
  valueCompletion: errors.map(([message, path]) => ({ message, path, extensions: { code: 'INVALID_GRAPHQL' } })),
});
const downstream = (message: string, path: Array<string | number> | undefined, serviceName: string, extensions: Record<string, unknown> = {}) => ({
  class: 'GraphQLError',
  message,
  ...(path ? { path } : {}),
  extensions: { code: 'DOWNSTREAM_SERVICE_ERROR', ...extensions, serviceName },
});

const cases: Case[] = [
  // --- Shapes of successful answers --------------------------------------------------------
  {
    name: 'the guild heavy query (4 subgraphs, nested entities, @requires, @provides)',
    ...heavy,
    check({ data, errors, extensions }) {
      expect(errors).toBeUndefined();
      expect(extensions).toBeUndefined();
      expect(data.users).toHaveLength(6);
      const grace = data.users[0];
      expect(Object.keys(grace)).toEqual(['id', 'username', 'name', 'reviews']);
      expect(grace).toMatchObject({ id: '1', username: 'grace', name: 'Grace Hopper' });
      expect(grace.reviews.map((r: { id: string }) => r.id)).toEqual(['1', '7']);
      // Review 1 is of the Desk, reviewed by users 1–4.
      const desk = grace.reviews[0].product;
      expect(desk).toMatchObject({ upc: '1', name: 'Desk', price: 749, weight: 120, inStock: true, shippingEstimate: 60 });
      expect(desk.reviews.map((r: { author: { username: string } }) => r.author.username)).toEqual(['grace', 'alan', 'barbara', 'edsger']);
      expect(desk.reviews[1].author.reviews[1].product).toMatchObject({ upc: '2', name: 'Bookshelf', inStock: false, shippingEstimate: 0 });
      expect(data.topProducts.map((p: { name: string }) => p.name)).toEqual(['Desk', 'Bookshelf', 'Mug', 'Stool', 'Monitor']);
      expect(data.topProducts[4]).toMatchObject({ upc: '5', inStock: true, shippingEstimate: 0, reviews: [] });
    },
  },
  {
    name: '@requires fields over a list of entities',
    query: '{ topProducts(first: 3) { name inStock shippingEstimate } }',
    check({ data }) {
      expect(data).toEqual({
        topProducts: [
          { name: 'Desk', inStock: true, shippingEstimate: 60 },
          { name: 'Bookshelf', inStock: false, shippingEstimate: 0 },
          { name: 'Mug', inStock: true, shippingEstimate: 15 },
        ],
      });
    },
  },
  {
    name: 'variables go to the subgraphs that use them, and only those',
    query: 'query Who($id: ID!, $first: Int) { user(id: $id) { name } topProducts(first: $first) { name } }',
    operationName: 'Who',
    variables: { id: '2', first: 1 },
    check({ data }, calls) {
      expect(data).toEqual({ user: { name: 'Alan Turing' }, topProducts: [{ name: 'Desk' }] });
      expect(calls.map(({ service, variables }) => ({ service, variables })).sort((a, b) => a.service.localeCompare(b.service))).toEqual([
        { service: 'accounts', variables: { id: '2' } },
        { service: 'products', variables: { first: 1 } },
      ]);
    },
  },
  {
    name: "a variable's default value (not sent, the subgraph applies the operation's default)",
    query: 'query Top($first: Int = 2) { topProducts(first: $first) { upc } }',
    check({ data }, calls) {
      expect(data).toEqual({ topProducts: [{ upc: '1' }, { upc: '2' }] });
      expect(calls[0]!.variables).toEqual({});
    },
  },
  {
    name: 'aliases, and one field twice under aliases with different arguments',
    query: '{ a: book(id: "1") { name: title } b: book(id: "2") { title author { who: name } } short: echo(value: "x") long: echo(value: "y", times: 3) }',
    check({ data }) {
      expect(JSON.stringify(data)).toBe(
        JSON.stringify({ a: { name: 'Dune' }, b: { title: 'Cosmos', author: { who: 'Carl Sagan' } }, short: ['x0'], long: ['y0', 'y1', 'y2'] }),
      );
    },
  },
  {
    name: 'the same field through different fragments is merged, in first-seen order',
    query: `query Merge { book(id: "1") { ...Basics ...Credits title } }
      fragment Basics on Book { title author { name } }
      fragment Credits on Book { author { born } pages }`,
    operationName: 'Merge',
    check({ data }) {
      expect(JSON.stringify(data)).toBe(JSON.stringify({ book: { title: 'Dune', author: { name: 'Frank Herbert', born: 1920 }, pages: 412 } }));
    },
  },
  {
    name: 'nested fragments and inline fragments on an interface',
    query: `{ media(first: 4) { ...Card } }
      fragment Card on Media { __typename id ...Titled ... on Book { pages author { name } } ... on Film { minutes director { name } } }
      fragment Titled on Media { title genre }`,
    check({ data }) {
      expect(JSON.stringify(data.media)).toBe(
        JSON.stringify([
          { __typename: 'Book', id: '1', title: 'Dune', genre: 'FICTION', pages: 412, author: { name: 'Frank Herbert' } },
          { __typename: 'Film', id: 'f1', title: 'Alien', genre: 'FICTION', minutes: 117, director: { name: 'Ridley Scott' } },
          { __typename: 'Book', id: '2', title: 'Cosmos', genre: 'SCIENCE', pages: 365, author: { name: 'Carl Sagan' } },
          { __typename: 'Film', id: 'f2', title: 'Apollo 13', genre: 'HISTORY', minutes: 140, director: null },
        ]),
      );
    },
  },
  {
    name: 'inline fragments on a union, with __typename and an aliased __typename',
    query: '{ search(term: "n") { kind: __typename ... on Media { __typename title } ... on Book { pages } ... on Author { name } } }',
    check({ data }) {
      expect(JSON.stringify(data.search)).toBe(
        JSON.stringify([
          { kind: 'Book', __typename: 'Book', title: 'Dune', pages: 412 },
          { kind: 'Film', __typename: 'Film', title: 'Alien' },
          { kind: 'Author', name: 'Frank Herbert' },
          { kind: 'Author', name: 'Carl Sagan' },
        ]),
      );
    },
  },
  {
    name: '__typename alone, at the root and aliased (no fetch at all)',
    query: '{ __typename root: __typename }',
    check({ data }) {
      expect(data).toEqual({ __typename: 'Query', root: 'Query' });
    },
  },
  {
    name: 'custom scalar values pass through as they are (a string, an object, null)',
    query: '{ a: book(id: "1") { published tags } b: book(id: "2") { published tags } c: book(id: "3") { published tags } }',
    check({ data }) {
      expect(data).toEqual({
        a: { published: '1965-08-01', tags: ['classic', 'desert'] },
        b: { published: { year: 1980, month: 9 }, tags: [] },
        c: { published: null, tags: null },
      });
    },
  },
  {
    name: '@skip/@include with literals, on fields and an inline fragment',
    query: '{ book(id: "1") { title pages @skip(if: true) genre @include(if: false) author @include(if: true) { name } ... @skip(if: false) { id } ... @include(if: false) { tags } } }',
    check({ data }) {
      expect(JSON.stringify(data)).toBe(JSON.stringify({ book: { title: 'Dune', author: { name: 'Frank Herbert' }, id: '1' } }));
    },
  },
  {
    name: '@skip/@include with variables, one left to its default value',
    query: `query Flags($withAuthor: Boolean!, $hidePages: Boolean = true) {
      book(id: "1") { title author @include(if: $withAuthor) { name } pages @skip(if: $hidePages) ...Extra @skip(if: $withAuthor) }
    }
    fragment Extra on Book { genre }`,
    variables: { withAuthor: true },
    check({ data }) {
      expect(JSON.stringify(data)).toBe(JSON.stringify({ book: { title: 'Dune', author: { name: 'Frank Herbert' } } }));
    },
  },
  {
    name: '@include on a field another subgraph resolves (a condition node: delegated)',
    query: 'query Stock($withStock: Boolean!) { book(id: "1") { title ... @include(if: $withStock) { stock } } }',
    variables: { withStock: false },
    delegated: true,
    check({ data }, calls) {
      expect(data).toEqual({ book: { title: 'Dune' } });
      expect(calls.map((c) => c.service)).toEqual(['library']);
    },
  },
  {
    name: 'entity fields (one through @requires) for the Books of an interface list',
    query: '{ media { title ... on Book { shelf stock weightClass } } }',
    check({ data }) {
      expect(data.media).toEqual([
        { title: 'Dune', shelf: 'A-1', stock: 3, weightClass: 'light' },
        { title: 'Alien' },
        { title: 'Cosmos', shelf: 'A-2', stock: 6, weightClass: 'light' },
        { title: 'Apollo 13' },
        { title: 'SPQR', shelf: 'A-3', stock: 9, weightClass: 'heavy' },
      ]);
    },
  },
  {
    name: 'an entity chain through a null (accounts → shelf → library → shelf)',
    query: '{ users { name favouriteBook { title stock } } }',
    check({ data }) {
      expect(data.users.map((u: { favouriteBook: { title: string } | null }) => u.favouriteBook?.title ?? null)).toEqual(['Dune', 'Cosmos', 'SPQR', null, 'Cosmos', 'SPQR']);
      expect(data.users[1]).toEqual({ name: 'Alan Turing', favouriteBook: { title: 'Cosmos', stock: 6 } });
    },
  },
  {
    name: 'a mutation runs its root fields one after the other',
    query: 'mutation AddTwo { first: addBook(title: "Neuromancer") { id title } before: countBooks second: addBook(title: "Hyperion") { id } after: countBooks }',
    operationName: 'AddTwo',
    check({ data }, calls) {
      expect(JSON.stringify(data)).toBe(JSON.stringify({ first: { id: '4', title: 'Neuromancer' }, before: 4, second: { id: '5' }, after: 5 }));
      expect(calls.map((c) => c.service)).toEqual(['library', 'shelf', 'library', 'shelf']);
    },
  },
  {
    name: 'the operation named in the request, out of several in the document',
    query: 'query A { book(id: "1") { title } } query B { book(id: "2") { ...F } } fragment F on Book { title genre }',
    operationName: 'B',
    check({ data }) {
      expect(data).toEqual({ book: { title: 'Cosmos', genre: 'SCIENCE' } });
    },
  },
  // The one known difference: the gateway's normalised operation merges selections with the same
  // type condition (here the two `... on Query`) at the first one's place, answering a, c, b; the
  // router answers in the order the GraphQL spec gives (CollectFields): a, b, c.
  {
    name: 'inline fragments with the same type condition around another field (key order)',
    keyOrder: { router: ['a', 'b', 'c'], gateway: ['a', 'c', 'b'] },
    query: '{ ... on Query { a: book(id: "1") { title } } b: book(id: "2") { title } ... on Query { c: book(id: "3") { title } } }',
    check({ data }) {
      expect(data).toEqual({ a: { title: 'Dune' }, b: { title: 'Cosmos' }, c: { title: 'SPQR' } });
    },
  },
  {
    name: 'aliases named like Object.prototype members are delegated',
    delegated: true,
    query: '{ book(id: "1") { constructor: title toString: genre valueOf: __typename hasOwnProperty: pages } }',
    check({ data }) {
      expect(data).toEqual({ book: { constructor: 'Dune', toString: 'FICTION', valueOf: 'Book', hasOwnProperty: 412 } });
    },
  },

  // --- Nulls and values the schema does not allow --------------------------------------------
  {
    name: 'a non-null field null in a subgraph answer bubbles to the nearest nullable parent',
    query: '{ book(id: "1") { title author { name } } media(first: 1) { id } }',
    scenario: { tamper: { library: (answer) => void (answer.data!['book'].author.name = null) } },
    check(result) {
      expect(result).toEqual({
        data: { book: null, media: [{ id: '1' }] },
        extensions: valueCompletion(['Cannot return null for non-nullable field Author.name.', ['book', 'author', 'name']]),
      });
    },
  },
  {
    name: 'a non-null field null bubbles through a non-null list to data: null',
    query: '{ media { id title } }',
    scenario: { tamper: { library: (answer) => void (answer.data!['media'][1].title = answer.data!['media'][3].title = null) } },
    check(result) {
      expect(result).toEqual({
        data: null,
        extensions: valueCompletion(['Cannot return null for non-nullable field Film.title.', ['media', 1, 'title']], ['Cannot return null for non-nullable field Film.title.', ['media', 3, 'title']]),
      });
    },
  },
  {
    name: 'a list of non-null elements with a null element becomes null',
    query: '{ book(id: "1") { title tags } }',
    scenario: { tamper: { library: (answer) => void (answer.data!['book'].tags = ['classic', null, 'desert', null]) } },
    check(result) {
      expect(result).toEqual({
        data: { book: { title: 'Dune', tags: null } },
        extensions: valueCompletion(
          ['Cannot return null for non-nullable array element of type String at index 1.', ['book', 'tags', 1]],
          ['Cannot return null for non-nullable array element of type String at index 3.', ['book', 'tags', 3]],
        ),
      });
    },
  },
  {
    name: 'an enum value the API schema does not have (@inaccessible) is invalid',
    query: '{ book(id: "2") { title genre } }',
    scenario: { faults: ['genre-draft'] },
    check(result) {
      expect(result).toEqual({ data: { book: { title: 'Cosmos', genre: null } }, extensions: valueCompletion(['Invalid value found for field Book.genre.', ['book', 'genre']]) });
    },
  },
  {
    name: 'values of the wrong scalar type (a float for Int, a string for Int; an integer is a valid ID)',
    query: '{ book(id: "1") { id pages author { born } } }',
    scenario: {
      tamper: {
        library: (answer) => {
          const book = answer.data!['book'];
          Object.assign(book, { id: 7, pages: 12.5 });
          book.author.born = '1920';
        },
      },
    },
    check(result) {
      expect(result).toEqual({
        data: { book: { id: 7, pages: null, author: { born: null } } },
        extensions: valueCompletion(['Invalid value found for field Book.pages.', ['book', 'pages']], ['Invalid value found for field Author.born.', ['book', 'author', 'born']]),
      });
    },
  },
  {
    name: 'an unknown __typename from a subgraph (an @inaccessible union member)',
    query: '{ search(term: "n") { __typename ... on Book { title } } }',
    scenario: { faults: ['search-draft'] },
    check(result) {
      expect(result.data.search).toHaveLength(5);
      expect(result.data.search[4]).toBeNull();
      expect(result.extensions).toEqual(valueCompletion(['Invalid __typename found for object at array element of type SearchResult at index 4.', ['search', 4]]));
    },
  },
  {
    name: 'an unknown __typename on an object field',
    query: '{ book(id: "1") { title } other: book(id: "2") { title } }',
    scenario: { tamper: { library: (answer) => void (answer.data!['book'].__typename = 'Ghost') } },
    check(result) {
      expect(result).toEqual({ data: { book: null, other: { title: 'Cosmos' } }, extensions: valueCompletion(['Invalid __typename found for object at field Query.book.', ['book']]) });
    },
  },
  {
    name: 'a wrong (but existing) __typename: fragments follow it',
    query: '{ book(id: "1") { __typename title ... on Book { pages } } }',
    scenario: { tamper: { library: (answer) => void (answer.data!['book'].__typename = 'Film') } },
    check(result) {
      expect(result).toEqual({ data: { book: { __typename: 'Film', title: 'Dune' } } });
    },
  },
  {
    name: 'a __typename that is not a string',
    query: '{ book(id: "1") { __typename title } }',
    scenario: { tamper: { library: (answer) => void (answer.data!['book'].__typename = 5) } },
    check(result) {
      expect(result).toEqual({ errors: [{ class: 'GraphQLError', message: 'Invalid non-string value 5 for __typename at book' }] });
    },
  },
  {
    name: 'a list field answered with an object (shaping fails: an error and no data)',
    query: '{ media { id } }',
    scenario: { tamper: { library: (answer) => void (answer.data!['media'] = { id: '1' }) } },
    check(result) {
      expect(result).toEqual({ errors: [{ class: 'GraphQLError', message: 'Invalid non-list value [object Object] returned by subgraph for list type [Media!]' }] });
    },
  },

  // --- Subgraph errors and failing data sources ----------------------------------------------
  {
    name: 'a root field error without a code: DOWNSTREAM_SERVICE_ERROR, serviceName, path',
    query: '{ book(id: "1") { title } media(first: 1) { id } }',
    scenario: { faults: ['book-throws'] },
    check(result) {
      expect(result).toEqual({ errors: [downstream('Book 1 fell off the shelf', ['book'], 'library')], data: { book: null, media: [{ id: '1' }] } });
    },
  },
  {
    name: 'a root field error with a code keeps it, and its other extensions',
    query: '{ book(id: "1") { title } }',
    scenario: { faults: ['book-throws-coded'] },
    check(result) {
      expect(result).toEqual({ errors: [downstream('Members only', ['book'], 'library', { code: 'FORBIDDEN', reason: 'no card' })], data: { book: null } });
    },
  },
  {
    // Book 2 is the second representation sent (Films are not), the third media: the gateway maps
    // `_entities.1` onto the second *media* (index 1, a Film), and the router does as the gateway does.
    name: 'an entity field error: `_entities` path mapped into the response (as the gateway maps it)',
    query: MEDIA_SHELVES,
    scenario: { faults: ['shelf-throws'] },
    check({ data, errors }) {
      expect(data.media).toEqual([{ id: '1', shelf: 'A-1' }, { id: 'f1' }, { id: '2', shelf: null }, { id: 'f2' }, { id: '3', shelf: 'A-3' }]);
      expect(errors).toEqual([downstream('Shelf label unreadable', ['media', 1, 'shelf'], 'shelf')]);
    },
  },
  {
    name: 'an entity error on a non-null field nulls the nearest nullable parent (no valueCompletion then)',
    query: '{ book(id: "2") { title stock } other: book(id: "1") { title stock } }',
    scenario: { faults: ['stock-throws'] },
    check(result) {
      expect(result).toEqual({
        errors: [downstream('Stock count unavailable', ['book', 'stock'], 'shelf', { code: 'STOCK_UNAVAILABLE' })],
        data: { book: null, other: { title: 'Dune', stock: 3 } },
      });
    },
  },
  {
    name: 'an entity error under non-null fields only: data: null',
    query: '{ requiredBook(id: "2") { title stock } }',
    scenario: { faults: ['stock-throws'] },
    check(result) {
      expect(result).toEqual({ errors: [downstream('Stock count unavailable', ['requiredBook', 'stock'], 'shelf', { code: 'STOCK_UNAVAILABLE' })], data: null });
    },
  },
  {
    // As the gateway does, the error's path keeps the plan's "@".
    name: 'an entity fetch failing whole (`_entities: null`, data: null)',
    query: MEDIA_SHELVES,
    scenario: { faults: ['entities-throw'] },
    check({ data, errors }) {
      expect(data.media.map((m: { shelf?: string }) => m.shelf ?? null)).toEqual([null, null, null, null, null]);
      expect(errors).toEqual([downstream('Shelf index corrupt', ['media', '@', '_entities'], 'shelf')]);
    },
  },
  {
    name: 'an entity the subgraph cannot resolve (null in `_entities`)',
    query: MEDIA_SHELVES,
    scenario: { faults: ['entity-throws'] },
    check({ data, errors }) {
      expect(data.media[2]).toEqual({ id: '2', shelf: null });
      expect(data.media[4]).toEqual({ id: '3', shelf: 'A-3' });
      expect(errors).toEqual([downstream('No shelf record for book 2', ['media', 1], 'shelf')]);
    },
  },
  {
    // Representations go user by user, review by review: the 4th is user 2's 2nd review's product.
    name: 'a subgraph error deep in a nested flatten path',
    query: '{ users { reviews { product { name inStock } } } }',
    scenario: {
      tamper: {
        inventory: (answer) => {
          answer.data!['_entities'][3].inStock = null;
          answer.errors = [{ message: 'Warehouse offline', path: ['_entities', 3, 'inStock'], extensions: { code: 'WAREHOUSE' } }];
        },
      },
    },
    check({ data, errors }) {
      expect(data.users[1].reviews[1].product).toEqual({ name: 'Bookshelf', inStock: null });
      expect(data.users[1].reviews[0].product).toEqual({ name: 'Desk', inStock: true });
      expect(errors).toEqual([downstream('Warehouse offline', ['users', 1, 'reviews', 1, 'product', 'inStock'], 'inventory', { code: 'WAREHOUSE' })]);
    },
  },
  {
    name: 'a subgraph answering data: null, an error without path or message, and one with a federation code',
    query: MEDIA_SHELVES,
    scenario: {
      tamper: {
        shelf: (answer) => {
          answer.data = null;
          answer.errors = [{ message: '', extensions: { code: 'INTERNAL_SERVER_ERROR' } }, { message: 'Bad field', extensions: { code: 'INVALID_GRAPHQL' } }];
        },
      },
    },
    check({ data, errors }) {
      expect(data.media[0]).toEqual({ id: '1', shelf: null });
      expect(errors).toEqual([
        downstream('Error while fetching subquery from service "shelf"', undefined, 'shelf', { code: 'INTERNAL_SERVER_ERROR' }),
        downstream('Bad field', undefined, 'shelf', { code: 'INVALID_GRAPHQL' }),
      ]);
    },
  },
  {
    name: 'a data source that throws (network failure) on an entity fetch',
    query: '{ topProducts(first: 2) { name inStock } }',
    scenario: { down: ['inventory'] },
    check(result) {
      expect(result).toEqual({
        errors: [{ class: 'Error', message: 'request to http://inventory.test/graphql failed, reason: connect ECONNREFUSED' }],
        data: { topProducts: [{ name: 'Desk', inStock: null }, { name: 'Bookshelf', inStock: null }] },
      });
    },
  },
  {
    name: 'a data source that throws on the root fetch of a non-null field',
    query: '{ requiredBook(id: "1") { title } }',
    scenario: { down: ['library'] },
    check(result) {
      expect(result).toEqual({ errors: [{ class: 'Error', message: 'request to http://library.test/graphql failed, reason: connect ECONNREFUSED' }], data: null });
    },
  },
  {
    name: '`_entities` with fewer elements than representations',
    query: MEDIA_SHELVES,
    scenario: { tamper: { shelf: (answer) => void answer.data!['_entities'].pop() } },
    check({ data, errors }) {
      expect(data.media.map((m: { shelf?: string }) => m.shelf ?? null)).toEqual([null, null, null, null, null]);
      expect(errors).toEqual([{ class: 'Error', message: 'Expected "data._entities" to contain 3 elements' }]);
    },
  },
  {
    name: '`_entities` that is not a list',
    query: MEDIA_SHELVES,
    scenario: { tamper: { shelf: (answer) => void (answer.data = { _entities: null }) } },
    check({ errors }) {
      expect(errors).toEqual([{ class: 'Error', message: 'Expected "data._entities" in response to be an array' }]);
    },
  },

  // --- Delegated to the gateway's executor ----------------------------------------------------
  {
    name: 'a field of an @interfaceObject (a plan with rewrites) is delegated',
    query: '{ media(first: 2) { title rating } book(id: "3") { rating } }',
    delegated: true,
    check({ data }) {
      expect(data).toEqual({ media: [{ title: 'Dune', rating: 5 }, { title: 'Alien', rating: 4 }], book: { rating: 5 } });
    },
  },
  {
    name: 'introspection (__schema) is delegated',
    query: '{ __schema { queryType { name } mutationType { name } } }',
    delegated: true,
    check({ data }, calls) {
      expect(data).toEqual({ __schema: { queryType: { name: 'Query' }, mutationType: { name: 'Mutation' } } });
      expect(calls).toEqual([]);
    },
  },
  {
    name: '__type next to a subgraph field is delegated, and hides @inaccessible values',
    query: 'query T { __type(name: "Genre") { kind enumValues { name } } book(id: "1") { title } }',
    delegated: true,
    check({ data }) {
      expect(data).toEqual({ __type: { kind: 'ENUM', enumValues: [{ name: 'FICTION' }, { name: 'SCIENCE' }, { name: 'HISTORY' }] }, book: { title: 'Dune' } });
    },
  },
];

describe('createPlanExecution: the same answers as @apollo/gateway executeQueryPlan', () => {
  it.each(cases)('$name', async (c) => {
    const { prepared, router, gateway, routerCalls, gatewayCalls } = await runBoth(c, c.scenario);
    expect(prepared.shape === undefined, c.delegated ? 'delegated to the gateway' : 'run by the router').toBe(!!c.delegated);

    const ours = plain(router);
    const theirs = plain(gateway);
    if (c.keyOrder) expect([Object.keys(ours.data ?? {}), Object.keys(theirs.data ?? {})]).toEqual([c.keyOrder.router, c.keyOrder.gateway]);
    else expect.soft(JSON.stringify(ours.data), 'data, key order included').toBe(JSON.stringify(theirs.data));
    expect.soft(ours, 'the whole result').toEqual(theirs);
    expect.soft(sortedCalls(routerCalls), 'the subgraph requests').toEqual(sortedCalls(gatewayCalls));
    c.check(theirs, gatewayCalls);
    c.check(ours, routerCalls);
  });

  // Output objects are plain `{}`: aliases `constructor` then `prototype` must not lead to Object.prototype.
  it('aliases named constructor/prototype cannot reach Object.prototype', async () => {
    try {
      const { router, gateway } = await runBoth({ query: '{ constructor: book(id: "1") { prototype: author { born } } }' });
      expect.soft(Object.hasOwn(Object.prototype, 'born'), 'Object.prototype written to').toBe(false);
      expect.soft(plain(router)).toEqual(plain(gateway));
      expect(plain(gateway)).toEqual({ data: { constructor: { prototype: { born: 1920 } } } });
    } finally {
      delete (Object.prototype as Record<string, unknown>)['born'];
    }
  });

  // Not a result either executor gives, but a rejection: the messages differ (the gateway's is a
  // TypeError from `flatMap`; the router's names the path), which only shows in the server's error.
  it('a list answered with an object where the plan flattens it: both executors reject', async () => {
    const request = { query: MEDIA_SHELVES };
    const document = parse(request.query);
    const prepared = execution.prepare(`\n${request.query}`, document, undefined);
    const scenario: Scenario = { tamper: { library: (answer) => void (answer.data!['media'] = { __typename: 'Book', id: '1' }) } };
    const router = execution.execute(prepared, dataSources(scenario).services, executionRequest(request));
    const operationContext = buildOperationContext({ schema: execution.schema, operationDocument: document, operationName: undefined });
    const gateway = executeQueryPlan(prepared.plan, dataSources(scenario).services, requestContext(request, document), operationContext, supergraphSchema, apiSchema);
    await expect(gateway).rejects.toThrow('value.flatMap is not a function');
    await expect(router).rejects.toThrow('Expected a list at "@" of media.@');
  });
});

describe('prepare', () => {
  const text = '{ book(id: "1") { title } }';

  it('returns the same prepared operation for the same key', () => {
    const first = execution.prepare(`\n${text}`, parse(text), undefined);
    expect(execution.prepare(`\n${text}`, parse(text), undefined)).toBe(first);
    expect(first.shape).toBeDefined();
    expect(first.plan.node?.kind).toBe('Fetch');
  });

  it('evicts the least recently used operation when the cache is full (in bytes)', () => {
    const probe = createPlanExecution(supergraphSdl, { planCacheBytes: 1024 * 1024 });
    probe.prepare('a', parse(text), undefined);
    const entryBytes = probe.cacheStats().bytes;
    const small = createPlanExecution(supergraphSdl, { planCacheBytes: entryBytes * 2 });
    const prepare = (key: string) => small.prepare(key, parse(text), undefined);
    const a = prepare('a');
    const b = prepare('b');
    expect(prepare('a')).toBe(a); // a is now the most recent
    prepare('c'); // evicts b
    expect(prepare('a')).toBe(a);
    expect(prepare('b')).not.toBe(b);
    expect(small.cacheStats()).toMatchObject({ entries: 2, bytes: entryBytes * 2, maxBytes: entryBytes * 2 });
  });

  it('counts a plan by its key\'s text, padding included, and never holds more than its bound', () => {
    const bound = 512 * 1024;
    const bounded = createPlanExecution(supergraphSdl, { planCacheBytes: bound });
    const padded = (i: number) => `# ${i}\n${'#\n'.repeat(8_000)}${' '.repeat(16_000)}{ book(id: "${i}") { title } }`;
    for (let i = 0; i < 200; i++) {
      bounded.prepare(`\n${padded(i)}`, parse(padded(i)), undefined);
      expect(bounded.cacheStats().bytes).toBeLessThanOrEqual(bound);
    }
    const stats = bounded.cacheStats();
    expect(stats.entries).toBeLessThan(200);
    expect(stats.entries).toBeGreaterThan(0);
    expect(stats.bytes / stats.entries).toBeGreaterThan(padded(0).length * 2);
  });

  it('prepares the named operation of a document with several', async () => {
    const document = 'query A { book(id: "1") { title } } query B { media(first: 1) { id } }';
    const a = execution.prepare(`A\n${document}`, parse(document), 'A');
    const b = execution.prepare(`B\n${document}`, parse(document), 'B');
    expect(a).not.toBe(b);
    const { services } = dataSources({});
    const ctx = (operationName: string) => executionRequest({ query: document, operationName });
    expect(plain(await execution.execute(b, services, ctx('B')))).toEqual({ data: { media: [{ id: '1' }] } });
    expect(plain(await execution.execute(a, services, ctx('A')))).toEqual({ data: { book: { title: 'Dune' } } });
  });
});


// ---------------------------------------------------------------------------------------------
// Incremental delivery (@defer): the payloads, merged as Apollo Client merges them (each item's
// data deep-merged at its path), give the answer of the same query without @defer.

interface PlainItem {
  data: Record<string, any> | null;
  path: Array<string | number>;
  label?: string;
  errors?: Plain['errors'];
  extensions?: Record<string, any>;
}
type PlainPayload = (Plain & { hasNext: boolean }) | { incremental?: PlainItem[]; hasNext: boolean };

/** Runs `request` incrementally; its payloads as a client gets them, in order. */
async function deliver(request: Request, scenario: Scenario = {}): Promise<PlainPayload[]> {
  const document = parse(request.query);
  expect(validate(execution.schema, document), 'the test operation is valid against the API schema').toEqual([]);
  const prepared = execution.prepare(`${request.operationName ?? ''}\n${request.query}`, document, request.operationName);
  const payloads: PlainPayload[] = [];
  let first = true;
  // Each payload as JSON at once, as a transport sends it (later ones must not change it).
  const emit = (payload: IncrementalPayload) => {
    if (first) {
      first = false;
      const { hasNext, ...result } = payload as Plain & { hasNext: boolean };
      return void payloads.push({ ...plain(result as ExecutionResult), hasNext });
    }
    const { incremental, hasNext } = payload as { incremental?: Array<PlainItem & { errors?: GraphQLError[] }>; hasNext: boolean };
    const items = incremental?.map(({ errors, ...item }) => ({ ...(JSON.parse(JSON.stringify(item)) as PlainItem), ...(errors ? { errors: plain({ errors }).errors } : {}) }));
    payloads.push({ ...(items ? { incremental: items } : {}), hasNext });
  };
  await execution.executeIncremental(prepared, dataSources(scenario).services, executionRequest(request), emit);
  return payloads;
}

/** What Apollo Client makes of the payloads (its Defer20220824Handler): data merged at each path, all errors. */
function merge(payloads: PlainPayload[]): Plain {
  const [initial, ...rest] = payloads as [Plain & { hasNext: boolean }, ...Array<{ incremental?: PlainItem[] }>];
  const data = structuredClone(initial.data) as Record<string, any>;
  const errors = [...(initial.errors ?? [])];
  const into = (target: any, source: any) => {
    for (const [key, value] of Object.entries(source)) {
      if (value && typeof value === 'object' && target[key] && typeof target[key] === 'object') into(target[key], value);
      else target[key] = value;
    }
  };
  for (const { incremental = [] } of rest) {
    for (const item of incremental) {
      if (item.data) into(item.path.reduce((at: any, key) => at[key], data), structuredClone(item.data));
      errors.push(...(item.errors ?? []));
    }
  }
  return { data, ...(errors.length ? { errors } : {}) };
}

const hasNexts = (payloads: PlainPayload[]) => payloads.map((p) => p.hasNext);
const itemsOf = (payloads: PlainPayload[]) => payloads.slice(1).flatMap((p) => ('incremental' in p ? (p.incremental ?? []) : []));

/** The guild heavy query with @defer at several depths: a nested one, on fragment spreads, labelled and not. */
const HEAVY_DEFERRED = heavy.query
  .replace('query Heavy {\n  users {\n    ...Person\n    reviews {', 'query HeavyDeferred {\n  users {\n    ...Person\n    ... @defer(label: "user-reviews") { reviews {')
  .replace('      product {\n        ...Item\n', '      product {\n        ...Item @defer(label: "product")\n')
  .replace('            reviews { ...Opinion product { ...Item } }\n          }\n        }\n      }\n    }\n  }', '            ... @defer { reviews { ...Opinion product { ...Item } } }\n          }\n        }\n      }\n    } }\n  }')
  .replace('  topProducts {\n    ...Item\n    reviews {\n      ...Opinion\n', '  topProducts {\n    ...Item\n    reviews {\n      ...Opinion @defer(label: "top-opinions")\n');

describe('executeIncremental (@defer): payloads that merge into the answer without @defer', () => {
  it('the guild heavy query with @defer at several depths', async () => {
    expect(HEAVY_DEFERRED.match(/@defer/g)).toHaveLength(4);
    const whole = plain((await runBoth(heavy)).router);
    const payloads = await deliver({ query: HEAVY_DEFERRED, operationName: 'HeavyDeferred' });

    expect(merge(payloads)).toStrictEqual(whole);
    // The same answer as the gateway's for the query without @defer.
    expect(whole.errors).toBeUndefined();
    expect(whole.data.users).toHaveLength(6);

    // The first payload without the deferred fragments: users without reviews, top products' reviews without their opinions.
    const [initial] = payloads as [Plain & { hasNext: boolean }];
    expect(initial.hasNext).toBe(true);
    expect(initial.data.users[0]).toEqual({ id: '1', username: 'grace', name: 'Grace Hopper' });
    expect(Object.keys(initial.data.topProducts[0].reviews[0])).toEqual(['author']);
    expect(hasNexts(payloads)).toEqual([...payloads.slice(1).map(() => true), false]);
    expect(payloads.length).toBeGreaterThanOrEqual(5);

    // Each deferred fragment once per object it applies to, with the client's label; nested ones after their parent's.
    const items = itemsOf(payloads);
    const byLabel = (label: string | undefined) => items.filter((item) => item.label === label);
    expect(byLabel('user-reviews').map((item) => item.path)).toEqual([0, 1, 2, 3, 4, 5].map((i) => ['users', i]));
    expect(byLabel('user-reviews')[0]!.data!['reviews'][0]).toEqual({ id: '1', body: expect.any(String), product: { reviews: expect.any(Array) } });
    expect(byLabel('product')).toHaveLength(12);
    expect(byLabel('product')[0]).toMatchObject({ path: ['users', 0, 'reviews', 0, 'product'], data: { upc: '1', name: 'Desk', price: 749, weight: 120, inStock: true, shippingEstimate: 60 } });
    expect(byLabel('top-opinions')[0]).toMatchObject({ path: ['topProducts', 0, 'reviews', 0], data: { id: '1', body: expect.any(String) } });
    expect(byLabel(undefined)[0]).toMatchObject({ path: ['users', 0, 'reviews', 0, 'product', 'reviews', 0, 'author'], data: { reviews: expect.any(Array) } });
    const order = payloads.map((p) => ('incremental' in p ? p.incremental?.[0]?.label ?? (p.incremental ? '(unlabelled)' : '(end)') : '(initial)'));
    expect(order.indexOf('user-reviews')).toBeLessThan(order.indexOf('product'));
    expect(order.indexOf('user-reviews')).toBeLessThan(order.indexOf('(unlabelled)'));
  });

  it('a deferred part fetches in its own time: independent parts in parallel, after the fetches they depend on', async () => {
    const prepared = execution.prepare('\nq', parse('{ users { id ... @defer { name } } topProducts { upc ... @defer { shippingEstimate } } }'), undefined);
    const started: string[] = [];
    const gates = new Map<string, () => void>();
    const { services } = dataSources({});
    const slow: Record<string, GraphQLDataSource> = {};
    for (const [name, source] of Object.entries(services)) {
      slow[name] = {
        async process(options) {
          started.push(`${name}:${options.request.query!.includes('_entities') ? 'entities' : 'root'}`);
          if (name === 'accounts' && options.request.query!.includes('_entities')) await new Promise<void>((resolve) => gates.set('name', resolve));
          return source.process(options);
        },
      };
    }
    const payloads: IncrementalPayload[] = [];
    const done = execution.executeIncremental(prepared, slow, { variables: {}, context: {} }, (p) => payloads.push(p));
    // The users' names are held back: the top products' shipping estimates (products then inventory) still come.
    await vi.waitFor(() => expect(payloads).toHaveLength(2));
    expect((payloads[1] as { incremental: Array<{ path: unknown[] }> }).incremental[0]!.path).toEqual(['topProducts', 0]);
    expect(started).toContain('inventory:entities');
    gates.get('name')!();
    await done;
    expect(payloads).toHaveLength(3);
    expect(payloads.map((p) => p.hasNext)).toEqual([true, true, false]);
  });

  it("a deferred part's subgraph errors come in its payload, at their paths", async () => {
    const payloads = await deliver({ query: '{ book(id: "2") { title ... @defer { shelf } } }' }, { faults: ['shelf-throws'] });
    expect(payloads).toEqual([
      { data: { book: { title: 'Cosmos' } }, hasNext: true },
      { incremental: [{ data: { shelf: null }, path: ['book'], errors: [downstream('Shelf label unreadable', ['book', 'shelf'], 'shelf')] }], hasNext: false },
    ]);
    expect(merge(payloads)).toEqual(plain((await runBoth({ query: '{ book(id: "2") { title shelf } }' }, { faults: ['shelf-throws'] })).gateway));
  });

  it("a null for a non-null field of a deferred fragment nulls that fragment's data, not its parent", async () => {
    const payloads = await deliver({ query: '{ book(id: "2") { title ... @defer { stock } } }' }, { faults: ['stock-throws'] });
    expect(payloads).toEqual([
      { data: { book: { title: 'Cosmos' } }, hasNext: true },
      { incremental: [{ data: null, path: ['book'], errors: [downstream('Stock count unavailable', ['book', 'stock'], 'shelf', { code: 'STOCK_UNAVAILABLE' })] }], hasNext: false },
    ]);
  });

  it('on an interface list: an item for each object whose type the fragment selects', async () => {
    const payloads = await deliver({ query: '{ media { id ... on Book @defer { shelf stock } } }' });
    expect(payloads[0]).toEqual({ data: { media: [{ id: '1' }, { id: 'f1' }, { id: '2' }, { id: 'f2' }, { id: '3' }] }, hasNext: true });
    expect(itemsOf(payloads).map(({ path, data }) => ({ path, data }))).toEqual([
      { path: ['media', 0], data: { shelf: 'A-1', stock: 3 } },
      { path: ['media', 2], data: { shelf: 'A-2', stock: 6 } },
      { path: ['media', 4], data: { shelf: 'A-3', stock: 9 } },
    ]);
    expect(merge(payloads)).toEqual(plain((await runBoth({ query: '{ media { id ... on Book { shelf stock } } }' })).gateway));
  });

  it('@defer(if: $defer), and @skip/@include inside deferred fragments, follow the variables', async () => {
    const query = 'query D($defer: Boolean!, $withAuthor: Boolean = true) { book(id: "1") { title ... @defer(if: $defer) { stock author @include(if: $withAuthor) { name } } } }';
    const whole = { data: { book: { title: 'Dune', stock: 3, author: { name: 'Frank Herbert' } } } };
    expect(await deliver({ query, variables: { defer: false } })).toEqual([{ ...whole, hasNext: false }]);
    const deferred = await deliver({ query, variables: { defer: true } });
    expect(deferred).toEqual([{ data: { book: { title: 'Dune' } }, hasNext: true }, { incremental: [{ data: { stock: 3, author: { name: 'Frank Herbert' } }, path: ['book'] }], hasNext: false }]);
    expect(itemsOf(await deliver({ query, variables: { defer: true, withAuthor: false } }))[0]!.data).toEqual({ stock: 3 });
    // A nullable variable not given: `if` keeps its default, true.
    const optional = 'query D($defer: Boolean) { book(id: "1") { title ... @defer(if: $defer) { stock } } }';
    expect(hasNexts(await deliver({ query: optional }))).toEqual([true, false]);
    expect(hasNexts(await deliver({ query: optional, variables: { defer: false } }))).toEqual([false]);
  });

  it('a deferred fragment with nothing to apply to: a last `{ hasNext: false }`', async () => {
    expect(await deliver({ query: '{ search(term: "zzz") { ... on Book @defer { title } } }' })).toEqual([{ data: { search: [] }, hasNext: true }, { hasNext: false }]);
  });

  it('a mutation with @defer, and a query without, come whole in one payload', async () => {
    expect(await deliver({ query: 'mutation { addBook(title: "Hyperion") { id ... @defer { title } } }' })).toEqual([{ data: { addBook: { id: '4', title: 'Hyperion' } }, hasNext: false }]);
    expect(await deliver({ query: '{ book(id: "1") { title } }' })).toEqual([{ data: { book: { title: 'Dune' } }, hasNext: false }]);
  });

  it('execute answers a query with @defer whole, planned without it', async () => {
    const query = '{ book(id: "1") { title ... @defer { stock } } }';
    const prepared = execution.prepare(`\n${query}`, parse(query), undefined);
    expect(prepared.plan.node?.kind).not.toBe('Defer');
    expect(plain(await execution.execute(prepared, dataSources({}).services, executionRequest({ query })))).toEqual({ data: { book: { title: 'Dune', stock: 3 } } });
  });
});
