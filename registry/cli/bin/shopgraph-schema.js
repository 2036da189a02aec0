#!/usr/bin/env node
// Node runs the TypeScript sources inside this repository, but strips no types under node_modules:
// an installed package (npx) runs the JavaScript `npm pack` compiled into dist/.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/index.js', import.meta.url);
const { main } = await import(existsSync(compiled) ? compiled.href : new URL('../src/index.ts', import.meta.url).href);
process.exitCode = await main(process.argv.slice(2));
