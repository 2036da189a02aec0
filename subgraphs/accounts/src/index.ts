import { serveUntilSignal } from '@shopgraph/kit';
import { createAccountsApp } from './app.ts';
import { loadAccountsConfig } from './config.ts';

await serveUntilSignal('accounts', loadAccountsConfig(), createAccountsApp);
