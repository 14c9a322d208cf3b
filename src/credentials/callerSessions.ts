import { CredentialsCache } from './cachedCredentials';
import { CredentialsUnavailableError } from './errors';
import { DroppedTag, SessionTag } from './sessionTags';
import { CallerRef } from './callerIdentity';

/** What a request asks for: the session of this caller, with these tags. */
export interface SessionRequest {
  caller: CallerRef;
  /** `callerKey(caller)`: sessions are looked up by it and the fingerprint, never by identity. */
  callerKey: string;
  /** The role session name (and SourceIdentity, when on) derived from the caller. */
  identity: string;
  /** The session tags to send (none when `sessionTags` is off). */
  tags: readonly SessionTag[];
  /** Tags left out, and why (logged once per session); the first {@link MAX_LISTED_DROPS}. */
  dropped: readonly DroppedTag[];
  /** How many tags were left out in all. */
  droppedCount: number;
  /** What the tags were computed from, besides the caller (the user's groups). */
  fingerprint: string;
}

/** One caller's session: its credentials cache, and what STS said about it. */
export interface CallerSession {
  readonly callerKey: string;
  readonly identity: string;
  readonly fingerprint: string;
  readonly cache: CredentialsCache;
  /** The tags of the session as last issued (fewer after a packed-size fallback). */
  tags: readonly SessionTag[];
  dropped: readonly DroppedTag[];
  droppedCount: number;
  lastUsed: number;
}

/** Dropped tags kept per session, for the log and the route check: a user can own thousands of groups. */
export const MAX_LISTED_DROPS = 10;

/** Makes a caller's session: a cache whose fetcher assumes the role as that caller. */
export type SessionFactory = (request: SessionRequest) => CallerSession;

/**
 * A session idle for this long leaves the map at the next lookup, even while there is room:
 * its credentials (an hour by default) have lapsed or soon will, never refreshed while idle.
 */
export const IDLE_SESSION_DROP_MS = 60 * 60 * 1000;

/**
 * New sessions (each an AssumeRole) per source: {@link newSessionsPerMinute} at once, then as
 * many a minute. Someone who can mint Backstage callers (JWKS subjects that include a branch
 * name, say) cannot turn every request into an AssumeRole, evict everyone, and exhaust the
 * account's STS quota: past the limit a new caller gets a 503 until there is room again.
 */
export const NEW_SESSIONS_REFILL_MS = 60_000;
/** The floor of that limit, whatever `maxCallers` says: about 17 AssumeRole calls a second. */
export const MIN_NEW_SESSIONS_PER_MINUTE = 1000;

/** How many new sessions a minute a source with this `maxCallers` makes at most. */
export function newSessionsPerMinute(maxCallers: number): number {
  return Math.max(maxCallers, MIN_NEW_SESSIONS_PER_MINUTE);
}

/**
 * The sessions of one credential source, one per caller and set of tags: at most
 * `maxCallers`, the least recently used dropped first (its refresh timer stopped; requests
 * already holding it finish with it, with that caller's own credentials). A caller whose
 * tags changed (their groups; a plugin acting for them) gets another session; the one no
 * longer asked for ages out like any other, so a caller who alternates between two sets of
 * tags does not cost an AssumeRole per request.
 *
 * Two callers never share a session: sessions are found by the caller's key, and an identity
 * in use by another live caller is refused (it cannot happen with sessionIdentity's mapping,
 * short of an 80-bit hash collision; then it fails closed).
 */
export class CallerSessions {
  /** By caller key and fingerprint, least recently used first. */
  private readonly sessions = new Map<string, CallerSession>();
  /** Which caller each identity in use belongs to, and how many live sessions it has. */
  private readonly owners = new Map<string, { callerKey: string; sessions: number }>();
  private closed = false;
  /** New sessions that may be made now (see {@link NEW_SESSIONS_REFILL_MS}). */
  private allowance: number;
  private allowanceAt: number;
  private readonly perMinute: number;

  constructor(
    private readonly create: SessionFactory,
    private readonly maxCallers: number,
    private readonly now: () => number = Date.now,
    /** Called when a new caller was refused for the rate of new sessions. */
    private readonly onLimited: () => void = () => {},
  ) {
    this.perMinute = newSessionsPerMinute(maxCallers);
    this.allowance = this.perMinute;
    this.allowanceAt = now();
  }

  /** The caller's session for these tags, made on first use; marks it most recently used. */
  session(request: SessionRequest): CallerSession {
    const now = this.now();
    this.dropIdle(now);
    const key = entryKey(request.callerKey, request.fingerprint);
    let session = this.sessions.get(key);
    if (session) {
      // Map order is insertion order: re-inserting makes it the most recently used.
      this.sessions.delete(key);
    } else {
      const owner = this.owners.get(request.identity);
      if (owner !== undefined && owner.callerKey !== request.callerKey) {
        throw new CredentialsUnavailableError(
          `Two Backstage callers map to the same AWS session name ${request.identity}; refusing to sign for the second one`,
          undefined,
          'SessionIdentityCollision',
        );
      }
      this.takeAllowance(now);
      session = this.create(request);
      if (this.closed) session.cache.close();
      this.owners.set(request.identity, {
        callerKey: request.callerKey,
        sessions: (owner?.sessions ?? 0) + 1,
      });
      while (this.sessions.size >= this.maxCallers) {
        this.drop(this.sessions.values().next().value!);
      }
    }
    session.lastUsed = now;
    this.sessions.set(key, session);
    return session;
  }

  /** How many sessions are kept. */
  get size(): number {
    return this.sessions.size;
  }

  /** Stops every session's refresh timer (backend shutdown). */
  close(): void {
    this.closed = true;
    for (const session of this.sessions.values()) {
      session.cache.close();
    }
  }

  private takeAllowance(now: number) {
    const refill = ((now - this.allowanceAt) / NEW_SESSIONS_REFILL_MS) * this.perMinute;
    this.allowance = Math.min(this.perMinute, this.allowance + refill);
    this.allowanceAt = now;
    if (this.allowance < 1) {
      this.onLimited();
      throw new CredentialsUnavailableError(
        `Too many new callers: this route's credentials make at most ${this.perMinute} new AWS sessions at once, then ${this.perMinute} a minute; try again shortly`,
        undefined,
        'TooManyNewCallers',
      );
    }
    this.allowance -= 1;
  }

  private dropIdle(now: number) {
    // The first entry is the least recently used: one look per call keeps this O(1).
    const oldest = this.sessions.values().next().value;
    if (oldest && now - oldest.lastUsed > IDLE_SESSION_DROP_MS) {
      this.drop(oldest);
    }
  }

  private drop(session: CallerSession) {
    session.cache.close();
    this.sessions.delete(entryKey(session.callerKey, session.fingerprint));
    const owner = this.owners.get(session.identity);
    if (owner?.callerKey === session.callerKey) {
      owner.sessions -= 1;
      if (owner.sessions === 0) this.owners.delete(session.identity);
    }
  }
}

/** The fingerprint is JSON, which has no raw NUL: the key splits back into one pair. */
function entryKey(callerKey: string, fingerprint: string): string {
  return `${fingerprint}\u0000${callerKey}`;
}
