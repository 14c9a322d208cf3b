import {
  BackstageCredentials,
  LoggerService,
  UserInfoService,
} from '@backstage/backend-plugin-api';
import { AuthenticationError } from '@backstage/errors';
import { callerKey, callerOf, sessionIdentity } from '../credentials/callerIdentity';
import { CallerSession, MAX_LISTED_DROPS } from '../credentials/callerSessions';
import { CredentialsResolver, PerCallerSource } from '../credentials/CredentialsResolver';
import { encodeSessionTags, EncodedTags } from '../credentials/sessionTags';

/** A failing user-info lookup is logged at most this often per route. */
const USER_INFO_WARN_INTERVAL_MS = 10 * 60 * 1000;

/**
 * Finds the AWS session of a request's caller on a `sessionPerCaller` route: the caller's
 * name (role session name, SourceIdentity), their session tags (with their groups from
 * Backstage's user info), and the session the resolver keeps for them.
 *
 * The session is chosen from the request's own admitted credentials, by the caller's exact
 * reference: a request is never signed with another caller's session.
 */
export class PerCallerSessions {
  private lastUserInfoWarning = -Infinity;

  constructor(
    private readonly routeLabel: string,
    private readonly source: PerCallerSource,
    private readonly resolver: CredentialsResolver,
    private readonly userInfo: UserInfoService | undefined,
    private readonly logger: LoggerService,
  ) {}

  /** The caller's session: made on their first request, or when their tags changed. */
  async sessionFor(credentials: BackstageCredentials | undefined): Promise<CallerSession> {
    const caller = callerOf(credentials);
    if (!caller) {
      // Admission already refused anonymous callers on these routes; never sign without one.
      throw new AuthenticationError(
        `proxysigv4 route ${this.routeLabel} makes a session per caller and needs Backstage credentials`,
      );
    }
    const perCaller = this.source.sessionPerCaller!;
    const identity = sessionIdentity(caller);
    let encoded: EncodedTags = { tags: [], dropped: [] };
    if (perCaller.sessionTags) {
      const groups =
        caller.type === 'user' ? await this.groupsOf(credentials!) : [];
      encoded = encodeSessionTags(caller, identity, groups, {
        maxGroupTags: perCaller.maxGroupTags,
      });
    }
    return this.resolver.sessionFor(this.source, {
      caller,
      callerKey: callerKey(caller),
      identity,
      tags: encoded.tags,
      dropped: encoded.dropped.slice(0, MAX_LISTED_DROPS),
      droppedCount: encoded.dropped.length,
      fingerprint: JSON.stringify(encoded.tags),
    });
  }

  /** The user's ownership refs, or undefined (no group tags: fewer rights) when unavailable. */
  private async groupsOf(
    credentials: BackstageCredentials,
  ): Promise<readonly string[] | undefined> {
    if (!this.userInfo) return undefined;
    try {
      const info = await this.userInfo.getUserInfo(credentials);
      const principal = credentials.principal as { userEntityRef?: string };
      if (info.userEntityRef !== principal.userEntityRef) {
        // Never another user's groups, whatever a user-info service answers.
        throw new Error(`the user info names ${info.userEntityRef}, not the caller`);
      }
      return info.ownershipEntityRefs;
    } catch (error) {
      const now = Date.now();
      if (now - this.lastUserInfoWarning >= USER_INFO_WARN_INTERVAL_MS) {
        this.lastUserInfoWarning = now;
        this.logger.warn(
          `proxysigv4 route ${this.routeLabel}: could not look up a caller's groups (${(error as Error)?.message ?? error}); their session is made without group tags (backstage-groups=partial) until the lookup works`,
        );
      }
      return undefined;
    }
  }
}
