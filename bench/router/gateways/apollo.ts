// (b) Stock @apollo/gateway behind @apollo/server's standalone server: no options beyond the
// supergraph, as in Apollo's getting-started (the gateway's default fetcher, caches and plugins).
// @apollo/server as published.
//   env: SUPERGRAPH_PATH, PORT
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { readFileSync } from 'node:fs';

const gateway = new ApolloGateway({ supergraphSdl: readFileSync(process.env.SUPERGRAPH_PATH!, 'utf8') });
const server = new ApolloServer({ gateway });
const { url } = await startStandaloneServer(server, { listen: { port: Number(process.env.PORT), host: '127.0.0.1' } });
console.log(`stock Apollo gateway at ${url}`);
process.on('SIGTERM', () => void server.stop().then(() => process.exit(0)));
