import { messagingEntities } from '@shopgraph/kit';
import { RefreshToken } from './refresh-token.entity.ts';
import { SigningKey } from './signing-key.entity.ts';
import { User } from './user.entity.ts';

export { RefreshToken, SigningKey, User };
export const entities = [User, RefreshToken, SigningKey, ...messagingEntities];
