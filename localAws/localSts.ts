/*
 * A local STS (for the tests and the demo): an HTTP server on loopback that the real
 * `@aws-sdk/client-sts` calls (through a route's `stsEndpoint`). It parses the
 * query-protocol request, checks its SigV4 signature with aws4 against the source
 * credentials it knows, and answers AssumeRole with new temporary credentials of a
 * configurable lifetime, which it adds to the `accepted` map an upstream checks against;
 * and GetCallerIdentity with the caller's ARN. It applies AWS's rules for RoleSessionName,
 * SourceIdentity, Tags and TransitiveTagKeys (stsRules.ts), a trust policy per role
 * (`trust`), role chaining and a model of the packed-size limit, so that the plugin's
 * per-caller sessions meet the errors AWS would give. It misbehaves on cue (`mode`). Not part
 * of the plugin.
 */
import http from 'node:http';
import crypto from 'node:crypto';
import { AddressInfo } from 'node:net';
import { AcceptedCredentials, verifySignature } from './verifyingUpstream';
import {
  DEFAULT_PACKED_BUDGET_BYTES,
  packedPercent,
  RoleTrust,
  sameTagKey,
  SessionTag,
  validateAssumeRole,
} from './stsRules';

export interface StsCall {
  action: string;
  /** The form parameters, as parsed. */
  params: Record<string, string>;
  /** The access key id that signed the call. */
  accessKeyId?: string;
  /** Region and service of the signature's scope. */
  region?: string;
  service?: string;
  /** Set when the signature did not verify. */
  signatureError?: string;
}

export type StsMode =
  | 'ok'
  /** Resets every connection before answering. */
  | 'down'
  /** Answers 403 AccessDenied. */
  | 'deny'
  /** Answers 400 Throttling. */
  | 'throttle'
  /** Never answers. */
  | 'hang'
  /**
   * Answers 400 with a message that quotes what it was sent, as AWS's validation errors
   * quote a parameter and a SignatureDoesNotMatch quotes the canonical request: every form
   * parameter (ExternalId too) and the x-amz-security-token header.
   */
  | 'echo';

export interface LocalSts {
  url: string;
  calls: StsCall[];
  /** AssumeRole calls only. */
  assumeRoleCalls(): StsCall[];
  mode: StsMode;
  /** Lifetime of the credentials AssumeRole issues, in ms (STS's own minimum does not apply). */
  lifetimeMs: number;
  /** Delay before answering, in ms. */
  delayMs: number;
  /** Roles whose AssumeRole is answered with AccessDenied, whatever the mode. */
  deniedRoles: Set<string>;
  /** The credentials issued so far, newest last. */
  issued: IssuedSession[];
  /**
   * Trust policies by role ARN: what each listed role allows beyond sts:AssumeRole. A listed
   * role without `setSourceIdentity` (`tagSession`) refuses a request carrying a
   * SourceIdentity (Tags or TransitiveTagKeys) with AccessDenied; unlisted roles allow
   * everything. Mutable, so a test can fix a policy and see the plugin recover.
   */
  trust: Record<string, RoleTrust>;
  /** The modelled budget of packed session tags, in bytes (see stsRules.packedPercent). */
  packedBudgetBytes: number;
  /** Share of that budget the source credentials' own session uses, in percent (EKS Pod Identity's tags: 74). */
  inheritedPackedPercent: number;
  /** Length of the session tokens AssumeRole issues, in characters (real ones are far longer). */
  tokenBytes: number;
  /** The issued session an access key id belongs to, or undefined (a source key, or unknown). */
  sessionOf(accessKeyId: string | undefined): IssuedSession | undefined;
  close(): Promise<void>;
}

/** A session AssumeRole issued. */
export interface IssuedSession {
  accessKeyId: string;
  sessionToken: string;
  expiresAt: number;
  roleArn: string;
  roleSessionName: string;
  /** As sent, or inherited from the calling session (role chaining). */
  sourceIdentity?: string;
  /** The session's tags: those sent, plus the calling session's transitive tags. */
  tags: SessionTag[];
  /** Its transitive keys: those sent, plus the calling session's. */
  transitiveTagKeys: string[];
  /** `arn:aws:sts::<account>:assumed-role/<role name>/<session name>`. */
  assumedRoleArn: string;
  /** `AROA…:<session name>` (also GetCallerIdentity's UserId). */
  assumedRoleId: string;
  /** Set when a session this STS issued signed the AssumeRole (role chaining). */
  parentAccessKeyId?: string;
}

/** Who each source access key id is, for GetCallerIdentity. */
export interface SourceCredentials {
  secretAccessKey: string;
  sessionToken?: string;
  arn: string;
}

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

function xmlEscape(text: string) {
  return text.replace(/[<>&'"]/g, c => `&#${c.charCodeAt(0)};`);
}

export interface LocalStsOptions {
  /** Credentials allowed to call STS (the plugin's source credentials), by access key id. */
  sources: Record<string, SourceCredentials>;
  /** Where issued credentials are registered, so that an upstream accepts them. */
  accepted: AcceptedCredentials;
  lifetimeMs?: number;
  /** Port to listen on; 0 (default) for any free port. */
  port?: number;
  /** Trust policies by role ARN (see LocalSts.trust); unlisted roles allow everything. */
  trust?: Record<string, RoleTrust>;
  /** Default 2048 (a model: AWS publishes no number). */
  packedBudgetBytes?: number;
  /** Default 0. */
  inheritedPackedPercent?: number;
  /** Default 64. */
  tokenBytes?: number;
}

/** `Name.member.N` (the query protocol's list form, from 1) in index order. */
function listMembers(params: Record<string, string>, name: string, suffix = ''): [number, string][] {
  const re = new RegExp(`^${name}\\.member\\.(\\d+)${suffix.replace('.', '\\.')}$`);
  const found: [number, string][] = [];
  for (const [k, v] of Object.entries(params)) {
    const m = re.exec(k);
    if (m) found.push([Number(m[1]), v]);
  }
  return found.sort((a, b) => a[0] - b[0]);
}

/** The session parameters of an AssumeRole request, as sent on the wire. */
export function sessionParamsOf(params: Record<string, string>) {
  const keys = listMembers(params, 'Tags', '.Key');
  const values = new Map(listMembers(params, 'Tags', '.Value'));
  return {
    roleSessionName: params.RoleSessionName,
    sourceIdentity: params.SourceIdentity,
    tags: keys.map(([i, key]) => ({ key, value: values.get(i) })),
    transitiveTagKeys: listMembers(params, 'TransitiveTagKeys').map(([, key]) => key),
    durationSeconds: params.DurationSeconds === undefined ? undefined : Number(params.DurationSeconds),
  };
}

/** A stable role id per role (`AROA` and 17 characters), as AWS's are. */
function roleIdOf(roleArn: string) {
  return `AROA${crypto.createHash('sha256').update(roleArn).digest('hex').slice(0, 17).toUpperCase()}`;
}

export async function startLocalSts(options: LocalStsOptions): Promise<LocalSts> {
  const calls: StsCall[] = [];
  const sessions = new Map<string, IssuedSession>();
  const sockets = new Set<import('node:net').Socket>();
  const sts: Partial<LocalSts> = {
    calls,
    assumeRoleCalls: () => calls.filter(c => c.action === 'AssumeRole'),
    mode: 'ok',
    lifetimeMs: options.lifetimeMs ?? 3600_000,
    delayMs: 0,
    deniedRoles: new Set(),
    issued: [],
    trust: options.trust ?? {},
    packedBudgetBytes: options.packedBudgetBytes ?? DEFAULT_PACKED_BUDGET_BYTES,
    inheritedPackedPercent: options.inheritedPackedPercent ?? 0,
    tokenBytes: options.tokenBytes ?? 64,
    sessionOf: accessKeyId => (accessKeyId === undefined ? undefined : sessions.get(accessKeyId)),
  };

  const answer = (res: http.ServerResponse, status: number, xml: string) => {
    res.writeHead(status, { 'content-type': 'text/xml' });
    res.end(xml);
  };
  const error = (res: http.ServerResponse, status: number, code: string, message: string) =>
    answer(
      res,
      status,
      `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>${crypto.randomUUID()}</RequestId></ErrorResponse>`,
    );

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const params = Object.fromEntries(new URLSearchParams(body.toString('utf8')));
      const secrets: AcceptedCredentials = {};
      for (const [id, s] of Object.entries(options.sources)) secrets[id] = s;
      for (const [id, s] of Object.entries(options.accepted)) secrets[id] = s;
      const check = verifySignature(
        { method: req.method!, url: req.url!, headers: req.headers },
        body,
        secrets,
      );
      const auth = String(req.headers.authorization ?? '');
      const call: StsCall = {
        action: params.Action ?? '',
        params,
        accessKeyId: /Credential=([^/]+)\//.exec(auth)?.[1],
        region: check.region,
        service: check.service,
        signatureError: check.error,
      };
      calls.push(call);
      const mode = sts.mode!;
      if (mode === 'hang') return;
      if (mode === 'down') {
        req.socket.destroy();
        return;
      }
      setTimeout(() => {
        if (mode === 'deny' || (params.Action === 'AssumeRole' && sts.deniedRoles!.has(params.RoleArn))) {
          error(res, 403, 'AccessDenied', `User is not authorized to perform: sts:AssumeRole on resource: ${params.RoleArn ?? 'unknown'}`);
          return;
        }
        if (mode === 'throttle') {
          error(res, 400, 'Throttling', 'Rate exceeded');
          return;
        }
        if (mode === 'echo') {
          const quoted = Object.entries(params).map(([k, v]) => `Value '${v}' at '${k}'`);
          error(
            res,
            400,
            'ValidationError',
            `${quoted.length} validation errors detected: ${quoted.join('; ')}; canonical headers: x-amz-security-token:${req.headers['x-amz-security-token'] ?? ''}`,
          );
          return;
        }
        if (check.error || check.service !== 'sts') {
          error(res, 403, check.code === 'ExpiredToken' ? 'ExpiredToken' : 'SignatureDoesNotMatch', check.error ?? `signed for ${check.service}`);
          return;
        }
        if (params.Version !== '2011-06-15') {
          error(res, 400, 'InvalidParameterValue', `unsupported version ${params.Version}`);
          return;
        }
        const caller = call.accessKeyId!;
        if (params.Action === 'AssumeRole') {
          const roleArn = params.RoleArn;
          const m = /^arn:([^:]+):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(roleArn ?? '');
          if (!m) {
            error(res, 400, 'ValidationError', 'RoleArn and RoleSessionName are required');
            return;
          }
          const session = sessionParamsOf(params);
          const parent = sts.sessionOf!(caller);
          // The calling session's transitive tags pass on to this one (role chaining).
          const inherited = parent
            ? parent.tags.filter(t => parent.transitiveTagKeys.some(k => sameTagKey(k, t.key)))
            : [];
          const packedOptions = {
            packedBudgetBytes: sts.packedBudgetBytes,
            inheritedPackedPercent: sts.inheritedPackedPercent,
          };
          const refused = validateAssumeRole(
            { ...session, roleArn },
            {
              trust: Object.hasOwn(sts.trust!, roleArn) ? sts.trust![roleArn] : undefined,
              callerArn: parent?.assumedRoleArn ?? options.sources[caller]?.arn,
              parent: parent && { sourceIdentity: parent.sourceIdentity, transitiveTags: inherited },
              ...packedOptions,
            },
          );
          if (refused) {
            error(res, refused.status, refused.code, refused.message);
            return;
          }
          const roleSessionName = session.roleSessionName!;
          const tags: SessionTag[] = [...inherited, ...session.tags.map(t => ({ key: t.key, value: t.value ?? '' }))];
          const transitiveTagKeys = [...inherited.map(t => t.key), ...session.transitiveTagKeys];
          const sourceIdentity = session.sourceIdentity ?? parent?.sourceIdentity;
          const accessKeyId = `ASIA${crypto.randomBytes(8).toString('hex').toUpperCase()}`;
          const secretAccessKey = crypto.randomBytes(20).toString('base64');
          const tokenBytes = sts.tokenBytes!;
          const sessionToken = crypto.randomBytes(Math.ceil((tokenBytes * 3) / 4)).toString('base64').slice(0, tokenBytes);
          const expiresAt = Date.now() + sts.lifetimeMs!;
          options.accepted[accessKeyId] = { secretAccessKey, sessionToken, expiresAt };
          const assumedRoleArn = `arn:${m[1]}:sts::${m[2]}:assumed-role/${m[3]}/${roleSessionName}`;
          const assumedRoleId = `${roleIdOf(roleArn)}:${roleSessionName}`;
          const issued: IssuedSession = {
            accessKeyId,
            sessionToken,
            expiresAt,
            roleArn,
            roleSessionName,
            ...(sourceIdentity === undefined ? {} : { sourceIdentity }),
            tags,
            transitiveTagKeys,
            assumedRoleArn,
            assumedRoleId,
            ...(parent ? { parentAccessKeyId: parent.accessKeyId } : {}),
          };
          sessions.set(accessKeyId, issued);
          sts.issued!.push(issued);
          // PackedPolicySize only when the request carried tags (whether AWS also sends it
          // without any is UNCONFIRMED). SessionTokenUtilization, its successor, is not modelled.
          const packed = session.tags.length > 0
            ? `<PackedPolicySize>${packedPercent(session.tags, { ...packedOptions, inheritedTags: inherited })}</PackedPolicySize>`
            : '';
          const si = sourceIdentity === undefined ? '' : `<SourceIdentity>${xmlEscape(sourceIdentity)}</SourceIdentity>`;
          answer(
            res,
            200,
            `<AssumeRoleResponse xmlns="${NS}"><AssumeRoleResult><Credentials><AccessKeyId>${accessKeyId}</AccessKeyId><SecretAccessKey>${xmlEscape(secretAccessKey)}</SecretAccessKey><SessionToken>${xmlEscape(sessionToken)}</SessionToken><Expiration>${new Date(expiresAt).toISOString()}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>${xmlEscape(assumedRoleId)}</AssumedRoleId><Arn>${xmlEscape(assumedRoleArn)}</Arn></AssumedRoleUser>${packed}${si}</AssumeRoleResult><ResponseMetadata><RequestId>${crypto.randomUUID()}</RequestId></ResponseMetadata></AssumeRoleResponse>`,
          );
          return;
        }
        if (params.Action === 'GetCallerIdentity') {
          const own = sessions.get(caller);
          const arn = own?.assumedRoleArn ?? options.sources[caller]?.arn ?? 'unknown';
          const account = /^arn:[^:]+:[^:]+::(\d{12}):/.exec(arn)?.[1] ?? '000000000000';
          answer(
            res,
            200,
            `<GetCallerIdentityResponse xmlns="${NS}"><GetCallerIdentityResult><Arn>${xmlEscape(arn)}</Arn><UserId>${xmlEscape(own?.assumedRoleId ?? caller)}</UserId><Account>${account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>${crypto.randomUUID()}</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
          );
          return;
        }
        error(res, 400, 'InvalidAction', `unknown action ${params.Action}`);
      }, sts.delayMs);
    });
  });
  server.on('connection', socket => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return Object.assign(sts, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>(resolve => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  }) as LocalSts;
}
