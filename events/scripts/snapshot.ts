// Writes events/contracts.snapshot.json: the contracts as published, which the compatibility
// test compares every change against. Run after a compatible change: npm run events:snapshot
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { contractSchemas } from '../src/compatibility.ts';

const file = join(import.meta.dirname, '..', 'contracts.snapshot.json');
writeFileSync(file, `${JSON.stringify(contractSchemas(), null, 2)}\n`);
console.log(`wrote ${file}`);
