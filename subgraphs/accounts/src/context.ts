import { batchLoader, type RequestContext, type RequestInput } from '@shopgraph/kit';
import type DataLoader from 'dataloader';
import { AccountsService, type SessionSettings } from './domain/accounts.service.ts';
import type { User } from './entities/index.ts';

export interface AccountsContext extends RequestContext {
  accounts: AccountsService;
  /** Batches the user lookups of one request (entity references, `me`). */
  users: DataLoader<string, User | null>;
  /** Users who proved who they are in this request (register, login): they may read their own private fields. */
  signedIn: Set<string>;
}

export function accountsContext({ identity, em, setup }: RequestInput<{ settings: SessionSettings }>): AccountsContext {
  const accounts = new AccountsService(em, setup.settings);
  const users = batchLoader(async (ids) => new Map((await accounts.findUsers(ids)).map((user) => [user.id, user])), null);
  return { identity, accounts, users, signedIn: new Set() };
}
