// Prints the SQL a subgraph's next migration needs: the difference between its entities and
// the schema its existing migrations build. Usage: npm run migration:sql -- <subgraph>
import { openDatabase } from '@shopgraph/kit';
import { createDatabase, dropDatabase, databaseUrl, ensurePostgres, repoRoot } from '@shopgraph/infra';
import { join } from 'node:path';

const name = process.argv[2];
if (!name) throw new Error('usage: migration-sql <subgraph>');
const root = repoRoot();
const { entities } = await import(join(root, 'subgraphs', name, 'src/entities/index.ts'));
const { migrations } = await import(join(root, 'subgraphs', name, 'src/migrations/index.ts'));
const postgres = await ensurePostgres({ dataDir: join(root, '.data/postgres') });
const scratch = `migration_sql_${name}_${process.pid}`;
await createDatabase(postgres.url, scratch);
try {
  const orm = await openDatabase({ url: databaseUrl(postgres.url, scratch), entities, migrations });
  const sql = await orm.schema.getUpdateSchemaSQL({ wrap: false });
  console.log(sql.trim() || '-- entities and migrations agree');
  await orm.close();
} finally {
  await dropDatabase(postgres.url, scratch);
  await postgres.stop();
}
