// The "classic federation demo" supergraph, modelled on the four subgraphs of The Guild's public
// gateway benchmark (github.com/graphql-hive/graphql-gateways-benchmark): accounts, inventory,
// products and reviews, with Product's inventory fields resolved through @requires. Written
// for this harness from the demo's schema: our own SDL, data and resolvers, with data volumes of
// the same order as theirs (6 users, 9 products, 12 reviews with bodies of 140–850 characters),
// so the heavy query's answer is about as large as theirs.
import { parse } from 'graphql';
import type { CannedSubgraph } from './types.ts';

const FEDERATION = '@link(url: "https://specs.apollo.dev/federation/v2.3"';

interface User {
  id: string;
  name: string;
  username: string;
  birthday: number;
}
interface Product {
  upc: string;
  name: string;
  price: number;
  weight: number;
}
interface Review {
  id: string;
  body: string;
  upc: string;
  authorId: string;
}

const users: User[] = [
  { id: '1', name: 'Grace Hopper', username: 'grace', birthday: 1906 },
  { id: '2', name: 'Alan Turing', username: 'alan', birthday: 1912 },
  { id: '3', name: 'Barbara Liskov', username: 'barbara', birthday: 1939 },
  { id: '4', name: 'Edsger Dijkstra', username: 'edsger', birthday: 1930 },
  { id: '5', name: 'Margaret Hamilton', username: 'margaret', birthday: 1936 },
  { id: '6', name: 'Donald Knuth', username: 'donald', birthday: 1938 },
];

const products: Product[] = [
  { upc: '1', name: 'Desk', price: 749, weight: 120 },
  { upc: '2', name: 'Bookshelf', price: 1150, weight: 900 },
  { upc: '3', name: 'Mug', price: 12, weight: 30 },
  { upc: '4', name: 'Stool', price: 389, weight: 80 },
  { upc: '5', name: 'Monitor', price: 1399, weight: 650 },
  { upc: '6', name: 'Kettle', price: 59, weight: 150 },
  { upc: '7', name: 'Bicycle', price: 2999, weight: 1400 },
  { upc: '8', name: 'Freezer', price: 89000, weight: 5200 },
  { upc: '9', name: 'Armchair', price: 7999, weight: 700 },
];

const inStock = new Map([['1', true], ['2', false], ['3', true], ['4', false], ['5', true], ['6', true], ['7', false], ['8', true], ['9', false]]);

// Review text of a given length, from a fixed vocabulary (deterministic, so answers never change).
const WORDS = ['sturdy', 'arrived', 'quickly', 'assembly', 'took', 'an', 'hour', 'the', 'finish', 'is', 'better', 'than', 'expected', 'would', 'buy', 'again',
  'though', 'packaging', 'was', 'excessive', 'and', 'one', 'screw', 'missing', 'support', 'replied', 'within', 'a', 'day', 'colour', 'matches', 'photos'];
function text(length: number, seed: number): string {
  let out = '';
  for (let i = seed; out.length < length; i += 7) out += (out ? ' ' : '') + WORDS[i % WORDS.length];
  return `${out.slice(0, length - 1)}.`;
}

// Each user wrote two reviews; products 1–4 of the top five have 4, 4, 2 and 2 reviews, product 5 none.
const reviewPlan: Array<[upc: string, authorId: string, bodyLength: number]> = [
  ['1', '1', 445], ['1', '2', 289], ['1', '3', 275], ['1', '4', 143], ['2', '5', 445], ['2', '6', 289],
  ['2', '1', 275], ['2', '2', 143], ['3', '3', 143], ['3', '4', 143], ['4', '5', 844], ['4', '6', 289],
];
const reviews: Review[] = reviewPlan.map(([upc, authorId, length], i) => ({ id: String(i + 1), body: text(length, i), upc, authorId }));

const byId = <T, K extends keyof T>(items: T[], key: K) => new Map(items.map((item) => [item[key], item]));
const userById = byId(users, 'id');
const productByUpc = byId(products, 'upc');
const reviewById = byId(reviews, 'id');

export const guildSubgraphs: CannedSubgraph[] = [
  {
    name: 'accounts',
    typeDefs: parse(`
      extend schema ${FEDERATION}, import: ["@key", "@shareable"])
      type Query {
        me: User
        user(id: ID!): User
        users: [User]
      }
      type User @key(fields: "id") {
        id: ID!
        name: String
        username: String @shareable
        birthday: Int
      }
    `),
    resolvers: {
      Query: {
        me: () => users[0],
        user: (_: unknown, { id }: { id: string }) => userById.get(id),
        users: () => users,
      },
      User: { __resolveReference: ({ id }: { id: string }) => userById.get(id) },
    },
  },
  {
    name: 'inventory',
    typeDefs: parse(`
      extend schema ${FEDERATION}, import: ["@key", "@external", "@requires"])
      type Product @key(fields: "upc") {
        upc: String!
        weight: Int @external
        price: Int @external
        inStock: Boolean
        shippingEstimate: Int @requires(fields: "price weight")
      }
    `),
    resolvers: {
      Product: {
        __resolveReference: (ref: { upc: string; price?: number; weight?: number }) => ({ ...ref, inStock: inStock.get(ref.upc) ?? false }),
        // Free above 1000; otherwise by weight.
        shippingEstimate: ({ price, weight }: { price?: number | null; weight?: number | null }) =>
          price == null || weight == null ? null : price > 1000 ? 0 : Math.round(weight / 2),
      },
    },
  },
  {
    name: 'products',
    typeDefs: parse(`
      extend schema ${FEDERATION}, import: ["@key"])
      type Query {
        topProducts(first: Int = 5): [Product]
      }
      type Product @key(fields: "upc") {
        upc: String!
        name: String
        price: Int
        weight: Int
      }
    `),
    resolvers: {
      Query: { topProducts: (_: unknown, { first }: { first: number }) => products.slice(0, first) },
      Product: { __resolveReference: ({ upc }: { upc: string }) => productByUpc.get(upc) },
    },
  },
  {
    name: 'reviews',
    typeDefs: parse(`
      extend schema ${FEDERATION}, import: ["@key", "@external", "@provides"])
      type Review @key(fields: "id") {
        id: ID!
        body: String
        product: Product
        author: User @provides(fields: "username")
      }
      type User @key(fields: "id") {
        id: ID!
        username: String @external
        reviews: [Review]
      }
      type Product @key(fields: "upc") {
        upc: String!
        reviews: [Review]
      }
    `),
    resolvers: {
      Review: {
        __resolveReference: ({ id }: { id: string }) => reviewById.get(id),
        product: (review: Review) => ({ upc: review.upc }),
        author: (review: Review) => ({ id: review.authorId, username: userById.get(review.authorId)?.username }),
      },
      User: {
        __resolveReference: ({ id }: { id: string }) => ({ id }),
        reviews: ({ id }: { id: string }) => reviews.filter((r) => r.authorId === id),
      },
      Product: {
        __resolveReference: ({ upc }: { upc: string }) => ({ upc }),
        reviews: ({ upc }: { upc: string }) => reviews.filter((r) => r.upc === upc),
      },
    },
  },
];
