/*
 * A local STS (for the tests and the demo): an HTTP server on loopback that the real
 * `@aws-sdk/client-sts` calls (through a route's `stsEndpoint`). It parses the
 * query-protocol request, checks its SigV4 signature with aws4 against the source
 * credentials it knows, and answers AssumeRole with new temporary credentials of a
 * configurable lifetime, which it adds to the `accepted` map an upstream checks against;
 * and GetCallerIdentity with the caller's ARN. It misbehaves on cue (`mode`). Not part of
 * the plugin.
 */
import http from 'node:http';
import crypto from 'node:crypto';
import { AddressInfo } from 'node:net';
import { AcceptedCredentials, verifySignature } from './verifyingUpstream';

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
  issued: { accessKeyId: string; sessionToken: string; expiresAt: number; roleArn: string }[];
  close(): Promise<void>;
}

/** Who each source access key id is, for GetCallerIdentity. */
export interface SourceIdentity {
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
  sources: Record<string, SourceIdentity>;
  /** Where issued credentials are registered, so that an upstream accepts them. */
  accepted: AcceptedCredentials;
  lifetimeMs?: number;
  /** Port to listen on; 0 (default) for any free port. */
  port?: number;
}

export async function startLocalSts(options: LocalStsOptions): Promise<LocalSts> {
  const calls: StsCall[] = [];
  const issuedArns = new Map<string, string>();
  const sockets = new Set<import('node:net').Socket>();
  const sts: Partial<LocalSts> = {
    calls,
    assumeRoleCalls: () => calls.filter(c => c.action === 'AssumeRole'),
    mode: 'ok',
    lifetimeMs: options.lifetimeMs ?? 3600_000,
    delayMs: 0,
    deniedRoles: new Set(),
    issued: [],
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
          if (!m || !params.RoleSessionName) {
            error(res, 400, 'ValidationError', 'RoleArn and RoleSessionName are required');
            return;
          }
          const accessKeyId = `ASIA${crypto.randomBytes(8).toString('hex').toUpperCase()}`;
          const secretAccessKey = crypto.randomBytes(20).toString('base64');
          const sessionToken = crypto.randomBytes(48).toString('base64');
          const expiresAt = Date.now() + sts.lifetimeMs!;
          options.accepted[accessKeyId] = { secretAccessKey, sessionToken, expiresAt };
          const arn = `arn:${m[1]}:sts::${m[2]}:assumed-role/${m[3]}/${params.RoleSessionName}`;
          issuedArns.set(accessKeyId, arn);
          sts.issued!.push({ accessKeyId, sessionToken, expiresAt, roleArn });
          answer(
            res,
            200,
            `<AssumeRoleResponse xmlns="${NS}"><AssumeRoleResult><Credentials><AccessKeyId>${accessKeyId}</AccessKeyId><SecretAccessKey>${xmlEscape(secretAccessKey)}</SecretAccessKey><SessionToken>${xmlEscape(sessionToken)}</SessionToken><Expiration>${new Date(expiresAt).toISOString()}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROA:${params.RoleSessionName}</AssumedRoleId><Arn>${arn}</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>${crypto.randomUUID()}</RequestId></ResponseMetadata></AssumeRoleResponse>`,
          );
          return;
        }
        if (params.Action === 'GetCallerIdentity') {
          const arn = issuedArns.get(caller) ?? options.sources[caller]?.arn ?? 'unknown';
          const account = /^arn:[^:]+:[^:]+::(\d{12}):/.exec(arn)?.[1] ?? '000000000000';
          answer(
            res,
            200,
            `<GetCallerIdentityResponse xmlns="${NS}"><GetCallerIdentityResult><Arn>${arn}</Arn><UserId>${caller}</UserId><Account>${account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>${crypto.randomUUID()}</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
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
