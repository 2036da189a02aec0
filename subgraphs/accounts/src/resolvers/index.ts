import { assertExpensiveFieldRunsOnce, ErrorCode, graphqlError, payload, Scope, type GraphQLResolverMap } from '@shopgraph/kit';
import type { GraphQLResolveInfo } from 'graphql';
import { normaliseEmail, type Session } from '../domain/accounts.service.ts';
import { TooManyAttempts } from '../domain/throttle.ts';
import type { User } from '../entities/user.entity.ts';
import type { AccountsContext } from '../context.ts';

type Input<T> = { input: T };

/** The session's user may read their own private fields for the rest of this request. */
function signedIn(context: AccountsContext, session: Session): Session {
  context.signedIn.add(session.user.id);
  return session;
}

/** A payload that also says, when it was refused as TOO_MANY_ATTEMPTS, how long to wait. */
async function throttledPayload<T extends object>(run: () => Promise<T>) {
  let retryAfterSeconds: number | null = null;
  const result = await payload(async () => {
    try {
      return await run();
    } catch (error) {
      if (error instanceof TooManyAttempts) retryAfterSeconds = error.retryAfterSeconds;
      throw error;
    }
  });
  return { ...result, retryAfterSeconds };
}

export const resolvers: GraphQLResolverMap<AccountsContext> = {
  Query: {
    me: (_: unknown, __: unknown, { identity, users }: AccountsContext) => (identity ? users.load(identity.userId) : null),
  },
  Mutation: {
    register: (_: unknown, { input }: Input<{ email: string; password: string; name: string }>, context: AccountsContext, info: GraphQLResolveInfo) => {
      assertExpensiveFieldRunsOnce(info);
      return payload(async () => signedIn(context, await context.accounts.register(input)));
    },
    login: (_: unknown, { input }: Input<{ email: string; password: string }>, context: AccountsContext, info: GraphQLResolveInfo) => {
      assertExpensiveFieldRunsOnce(info);
      return throttledPayload(async () =>
        signedIn(context, await context.throttle.signIn(normaliseEmail(input.email), context.clientIp, () => context.accounts.login(input))));
    },
    refreshToken: (_: unknown, { input }: Input<{ refreshToken: string }>, { accounts, throttle, clientIp }: AccountsContext) =>
      throttledPayload(async () => {
        const { accessToken, expiresIn, refreshToken } = await throttle.refresh(clientIp, () => accounts.refresh(input));
        return { accessToken, expiresIn, refreshToken };
      }),
    logout: (_: unknown, { input }: Input<{ refreshToken: string }>, { accounts }: AccountsContext) =>
      payload(async () => {
        await accounts.logout(input);
        return {};
      }),
  },
  User: {
    __resolveReference: ({ id }: { id: string }, { users }: AccountsContext) => users.load(id),
    email: (user: User, _: unknown, { identity, signedIn }: AccountsContext) => {
      if (identity?.userId === user.id || identity?.scopes.has(Scope.STAFF) || signedIn.has(user.id)) return user.email;
      throw graphqlError(ErrorCode.FORBIDDEN, 'Only the user themself and staff may read User.email');
    },
  },
};
