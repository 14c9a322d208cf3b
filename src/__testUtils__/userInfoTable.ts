/*
 * A user-info service for tests whose groups differ per user (Backstage's mock gives every
 * user the same ones), and that can fail on cue, as the auth backend's user-info endpoint can.
 */
import {
  BackstageCredentials,
  BackstageUserInfo,
  coreServices,
  createServiceFactory,
} from '@backstage/backend-plugin-api';

export interface UserInfoTable {
  /** A user's ownership refs; a user not listed owns only themselves. Mutable. */
  groups: Map<string, string[]>;
  /** Users whose lookup throws (an unreachable auth backend). Mutable. */
  failing: Set<string>;
  /** Every lookup, by user ref. */
  lookups: string[];
  factory: ReturnType<typeof createServiceFactory<any, any, any, any>>;
}

export function userInfoTable(groups: Record<string, string[]> = {}): UserInfoTable {
  const table: Omit<UserInfoTable, 'factory'> = {
    groups: new Map(Object.entries(groups)),
    failing: new Set(),
    lookups: [],
  };
  const service = {
    async getUserInfo(credentials: BackstageCredentials): Promise<BackstageUserInfo> {
      const principal = credentials.principal as { type: string; userEntityRef?: string };
      if (principal.type !== 'user' || !principal.userEntityRef) {
        throw new Error('Only user credentials are supported');
      }
      const ref = principal.userEntityRef;
      table.lookups.push(ref);
      if (table.failing.has(ref)) {
        throw new Error(`user info for ${ref} is unavailable`);
      }
      return {
        userEntityRef: ref,
        ownershipEntityRefs: table.groups.get(ref) ?? [ref],
      };
    },
  };
  return {
    ...table,
    factory: createServiceFactory({
      service: coreServices.userInfo,
      deps: {},
      factory: () => service,
    }),
  };
}
