import { batchLoader, clientAddress, type RequestContext, type RequestInput } from '@shopgraph/kit';
import type DataLoader from 'dataloader';
import { AccountsService, type SessionSettings } from './domain/accounts.service.ts';
import type { SignInThrottle } from './domain/throttle.ts';
import type { User } from './entities/index.ts';

export interface AccountsContext extends RequestContext {
  accounts: AccountsService;
  /** Batches the user lookups of one request (entity references, `me`). */
  users: DataLoader<string, User | null>;
  /** Users who proved who they are in this request (register, login): they may read their own private fields. */
  signedIn: Set<string>;
  throttle: SignInThrottle;
  /** Who is asking, as far as attempts are counted: the client's IP (see TRUST_PROXY_HOPS). */
  clientIp: string;
}

export interface AccountsSetup {
  settings: SessionSettings;
  throttle: SignInThrottle;
  trustProxyHops: number;
}

export function accountsContext({ identity, em, req, setup }: RequestInput<AccountsSetup>): AccountsContext {
  const accounts = new AccountsService(em, setup.settings);
  const users = batchLoader(async (ids) => new Map((await accounts.findUsers(ids)).map((user) => [user.id, user])), null);
  return { identity, accounts, users, signedIn: new Set(), throttle: setup.throttle, clientIp: clientAddress(req, setup.trustProxyHops) };
}

