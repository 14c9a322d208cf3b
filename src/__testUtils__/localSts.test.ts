/*
 * The local STS's AWS rules for AssumeRole's RoleSessionName, SourceIdentity, Tags and
 * TransitiveTagKeys (localAws/stsRules.ts), called the way the plugin calls it: through the
 * real @aws-sdk/client-sts on loopback. Each rule is accepted at its limit and refused just
 * past it, with the error name and code the SDK surfaces to the plugin; plus the wire form
 * the SDK sends, the trust policy, the packed-size model, role chaining, what a success
 * answers, and the upstream's record of which key signed a request.
 */
import http from 'node:http';
import aws4 from 'aws4';
import {
  AssumeRoleCommand,
  AssumeRoleCommandInput,
  GetCallerIdentityCommand,
  STSClient,
} from '@aws-sdk/client-sts';
import {
  AcceptedCredentials,
  LocalSts,
  packedPercent,
  startLocalSts,
  startVerifyingUpstream,
  validateAssumeRole,
  validRoleSessionName,
  validSessionTag,
  validSessionTagKey,
  validSessionTagValue,
  validSourceIdentity,
  VerifyingUpstream,
} from '../../localAws';
import { TEST_CREDENTIALS } from './startProxy';

const MAIN_ARN = 'arn:aws:iam::111111111111:user/backstage';
const ROLE = 'arn:aws:iam::210987654321:role/team/backstage-team-data';

let accepted: AcceptedCredentials;
let sts: LocalSts;
let clients: STSClient[];

beforeEach(async () => {
  accepted = {};
  clients = [];
  sts = await startLocalSts({
    sources: { [TEST_CREDENTIALS.accessKeyId]: { ...TEST_CREDENTIALS, arn: MAIN_ARN } },
    accepted,
  });
});

afterEach(async () => {
  for (const c of clients) c.destroy();
  await sts.close();
});

function client(credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } = TEST_CREDENTIALS) {
  const c = new STSClient({ region: 'us-east-1', endpoint: sts.url, credentials, maxAttempts: 1 });
  clients.push(c);
  return c;
}

const assume = (input: Partial<AssumeRoleCommandInput>, via = client()) =>
  via.send(new AssumeRoleCommand({ RoleArn: ROLE, RoleSessionName: 'jane.doe', ...input }));

/** What the SDK surfaces for a refused call: what the plugin's awsErrorCode and messages see. */
async function refusal(input: Partial<AssumeRoleCommandInput>, via?: STSClient) {
  try {
    await assume(input, via);
  } catch (e: any) {
    return { name: e.name, code: e.Code, status: e.$metadata?.httpStatusCode, message: e.message as string };
  }
  throw new Error(`AssumeRole was accepted: ${JSON.stringify(input)}`);
}

const tags = (n: number, key = (i: number) => `k${i}`, value = (i: number) => `v${i}`) =>
  Array.from({ length: n }, (_, i) => ({ Key: key(i), Value: value(i) }));

describe('the wire form', () => {
  it('is the query protocol list form, from 1, that the SDK sends and the STS parses', async () => {
    const answer = await assume({
      SourceIdentity: 'jane.doe',
      Tags: [
        { Key: 'backstage-user', Value: 'jane.doe' },
        { Key: 'team', Value: '' },
      ],
      TransitiveTagKeys: ['backstage-user'],
    });
    const [call] = sts.assumeRoleCalls();
    expect(call.params).toMatchObject({
      Action: 'AssumeRole',
      RoleSessionName: 'jane.doe',
      SourceIdentity: 'jane.doe',
      'Tags.member.1.Key': 'backstage-user',
      'Tags.member.1.Value': 'jane.doe',
      'Tags.member.2.Key': 'team',
      'Tags.member.2.Value': '',
      'TransitiveTagKeys.member.1': 'backstage-user',
    });
    expect(sts.sessionOf(answer.Credentials!.AccessKeyId)).toMatchObject({
      tags: [
        { key: 'backstage-user', value: 'jane.doe' },
        { key: 'team', value: '' },
      ],
      transitiveTagKeys: ['backstage-user'],
    });
  });
});

describe('a success', () => {
  it('without the new parameters answers as before (positive control)', async () => {
    const answer = await assume({ RoleSessionName: 'backstage-proxy-sigv4', DurationSeconds: 3600 });
    expect(answer.Credentials?.AccessKeyId).toMatch(/^ASIA/);
    expect(answer.AssumedRoleUser?.Arn).toBe(
      'arn:aws:sts::210987654321:assumed-role/backstage-team-data/backstage-proxy-sigv4',
    );
    expect(answer.AssumedRoleUser?.AssumedRoleId).toMatch(/^AROA[0-9A-Z]{17}:backstage-proxy-sigv4$/);
    expect(answer.SourceIdentity).toBeUndefined();
    expect(answer.PackedPolicySize).toBeUndefined();
    expect(answer.Credentials?.SessionToken).toHaveLength(64);
    expect(sts.issued).toHaveLength(1);
    expect(sts.issued[0]).toMatchObject({
      roleArn: ROLE,
      roleSessionName: 'backstage-proxy-sigv4',
      tags: [],
      transitiveTagKeys: [],
    });
    expect(sts.issued[0].sourceIdentity).toBeUndefined();
    expect(accepted[answer.Credentials!.AccessKeyId!]).toBeDefined();
  });

  it('answers the source identity, the packed size and the assumed role; sessionOf finds the session', async () => {
    const answer = await assume({
      SourceIdentity: 'jane.doe',
      Tags: [{ Key: 'backstage-user', Value: 'user:default/jane.doe' }],
    });
    expect(answer.SourceIdentity).toBe('jane.doe');
    // 14 + 21 + 2 bytes of 2048: 2%.
    expect(answer.PackedPolicySize).toBe(2);
    const id = answer.Credentials!.AccessKeyId!;
    const session = sts.sessionOf(id);
    expect(session).toBe(sts.issued[0]);
    expect(session).toMatchObject({
      accessKeyId: id,
      sessionToken: answer.Credentials!.SessionToken,
      roleSessionName: 'jane.doe',
      sourceIdentity: 'jane.doe',
      assumedRoleArn: answer.AssumedRoleUser!.Arn,
      assumedRoleId: answer.AssumedRoleUser!.AssumedRoleId,
    });
    expect(sts.sessionOf(TEST_CREDENTIALS.accessKeyId)).toBeUndefined();
    expect(sts.sessionOf(undefined)).toBeUndefined();

    const who = await client({
      accessKeyId: id,
      secretAccessKey: answer.Credentials!.SecretAccessKey!,
      sessionToken: answer.Credentials!.SessionToken!,
    }).send(new GetCallerIdentityCommand({}));
    expect(who.Arn).toBe('arn:aws:sts::210987654321:assumed-role/backstage-team-data/jane.doe');
    expect(who.UserId).toBe(answer.AssumedRoleUser!.AssumedRoleId);
    expect(who.Account).toBe('210987654321');
  });

  it('issues session tokens of tokenBytes characters', async () => {
    sts.tokenBytes = 1000;
    const answer = await assume({});
    expect(answer.Credentials!.SessionToken).toHaveLength(1000);
  });
});

describe('RoleSessionName', () => {
  it('is accepted at 2 and 64 characters of [\\w+=,.@-]', async () => {
    await expect(assume({ RoleSessionName: 'ab' })).resolves.toBeDefined();
    await expect(assume({ RoleSessionName: `a+=,.@-_${'x'.repeat(56)}` })).resolves.toBeDefined();
  });

  it('is refused at 65 characters, at 1, and with a character outside the pattern, as AWS words it', async () => {
    const long = 'x'.repeat(65);
    expect(await refusal({ RoleSessionName: long })).toEqual({
      name: 'ValidationError',
      code: 'ValidationError',
      status: 400,
      message: `1 validation error detected: Value '${long}' at 'roleSessionName' failed to satisfy constraint: Member must have length less than or equal to 64`,
    });
    expect((await refusal({ RoleSessionName: 'a' })).message).toBe(
      "1 validation error detected: Value 'a' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2",
    );
    expect(await refusal({ RoleSessionName: 'a:b' })).toMatchObject({
      name: 'ValidationError',
      status: 400,
      message:
        "1 validation error detected: Value 'a:b' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
    });
    expect((await refusal({ RoleSessionName: `${'é'.repeat(65)}` })).message).toMatch(
      /^2 validation errors detected: .*less than or equal to 64; .*regular expression pattern/,
    );
    expect(sts.issued).toHaveLength(0);
  });
});

describe('SourceIdentity', () => {
  it('is accepted at 2 and 64 characters', async () => {
    await expect(assume({ SourceIdentity: 'ab' })).resolves.toMatchObject({ SourceIdentity: 'ab' });
    await expect(assume({ SourceIdentity: 'p'.repeat(64) })).resolves.toBeDefined();
  });

  it('is refused at 65 characters, with aws: and with a space', async () => {
    expect(await refusal({ SourceIdentity: 'p'.repeat(65) })).toMatchObject({
      name: 'ValidationError',
      code: 'ValidationError',
      status: 400,
      message: expect.stringContaining("at 'sourceIdentity' failed to satisfy constraint: Member must have length less than or equal to 64"),
    });
    expect((await refusal({ SourceIdentity: 'aws:x' })).message).toBe(
      "1 validation error detected: Value 'aws:x' at 'sourceIdentity' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
    );
    expect((await refusal({ SourceIdentity: 'jane doe' })).name).toBe('ValidationError');
  });
});

describe('Tags', () => {
  it('are accepted 50 at a time, with keys of 128 and values of 256 characters', async () => {
    sts.packedBudgetBytes = 1_000_000;
    await expect(assume({ Tags: tags(50) })).resolves.toBeDefined();
    await expect(assume({ Tags: [{ Key: 'k'.repeat(128), Value: 'v'.repeat(256) }] })).resolves.toBeDefined();
    await expect(assume({ Tags: [{ Key: 'k', Value: '' }] })).resolves.toBeDefined();
  });

  it('are refused 51 at a time, or with a key of 129 or a value of 257 characters', async () => {
    sts.packedBudgetBytes = 1_000_000;
    expect(await refusal({ Tags: tags(51) })).toMatchObject({
      name: 'ValidationError',
      code: 'ValidationError',
      status: 400,
      message: expect.stringMatching(/at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50$/),
    });
    expect((await refusal({ Tags: [{ Key: 'k'.repeat(129), Value: 'v' }] })).message).toBe(
      `1 validation error detected: Value '${'k'.repeat(129)}' at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128`,
    );
    expect(
      (await refusal({ Tags: [{ Key: 'a', Value: 'v' }, { Key: 'b', Value: 'v'.repeat(257) }] })).message,
    ).toBe(
      `1 validation error detected: Value '${'v'.repeat(257)}' at 'tags.2.member.value' failed to satisfy constraint: Member must have length less than or equal to 256`,
    );
  });

  it('allow Unicode letters, numbers, spaces and _.:/=+-@, and refuse other characters', async () => {
    await expect(
      assume({ Tags: [{ Key: 'équipe: data/eng=+-@_.1', Value: 'Ünïcödé 名前 ٣ a:b/c' }] }),
    ).resolves.toBeDefined();
    expect(await refusal({ Tags: [{ Key: 'team#1', Value: 'x' }] })).toMatchObject({
      name: 'ValidationError',
      message:
        "1 validation error detected: Value 'team#1' at 'tags.1.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+",
    });
    expect((await refusal({ Tags: [{ Key: 'team', Value: 'a,b' }] })).message).toContain(
      "Value 'a,b' at 'tags.1.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*",
    );
  });

  it('refuse an aws: prefix on a key or a value, whatever its case', async () => {
    for (const tag of [
      { Key: 'aws:team', Value: 'x' },
      { Key: 'AWS:team', Value: 'x' },
      { Key: 'team', Value: 'Aws:x' },
    ]) {
      expect(await refusal({ Tags: [tag] })).toMatchObject({
        name: 'InvalidParameterValue',
        code: 'InvalidParameterValue',
        status: 400,
        message: expect.stringContaining("can't start with 'aws:'"),
      });
    }
    await expect(assume({ Tags: [{ Key: 'team-aws:x', Value: 'x-aws:y' }] })).resolves.toBeDefined();
  });

  it('refuse two keys that differ only in case', async () => {
    await expect(assume({ Tags: [{ Key: 'Team', Value: 'a' }, { Key: 'Teams', Value: 'b' }] })).resolves.toBeDefined();
    expect(await refusal({ Tags: [{ Key: 'Team', Value: 'a' }, { Key: 'team', Value: 'b' }] })).toEqual({
      name: 'InvalidParameterValue',
      code: 'InvalidParameterValue',
      status: 400,
      message: 'Duplicate tag keys found. Please note that Tag keys are case insensitive.',
    });
  });
});

describe('TransitiveTagKeys', () => {
  it('must name tags of the request, whatever their case', async () => {
    await expect(
      assume({ Tags: [{ Key: 'Team', Value: 'a' }], TransitiveTagKeys: ['TEAM'] }),
    ).resolves.toBeDefined();
    expect(await refusal({ Tags: [{ Key: 'team', Value: 'a' }], TransitiveTagKeys: ['user'] })).toEqual({
      name: 'InvalidParameterValue',
      code: 'InvalidParameterValue',
      status: 400,
      message: 'The specified transitive tag key must be included in the requested tags.',
    });
    expect((await refusal({ TransitiveTagKeys: ['user'] })).name).toBe('InvalidParameterValue');
  });
});

describe('the trust policy', () => {
  it('refuses a SourceIdentity without sts:SetSourceIdentity, naming the caller, the permission and the role', async () => {
    sts.trust[ROLE] = { tagSession: true };
    expect(await refusal({ SourceIdentity: 'jane.doe' })).toEqual({
      name: 'AccessDenied',
      code: 'AccessDenied',
      status: 403,
      message: `User: ${MAIN_ARN} is not authorized to perform: sts:SetSourceIdentity on resource: ${ROLE}`,
    });
    // Tags alone pass; so does a call with neither.
    await expect(assume({ Tags: [{ Key: 'a', Value: 'b' }] })).resolves.toBeDefined();
    await expect(assume({})).resolves.toBeDefined();
    // Fixing the policy at run time lets the same request through.
    sts.trust[ROLE] = { setSourceIdentity: true, tagSession: true };
    await expect(assume({ SourceIdentity: 'jane.doe' })).resolves.toMatchObject({ SourceIdentity: 'jane.doe' });
  });

  it('refuses Tags or TransitiveTagKeys without sts:TagSession', async () => {
    sts.trust[ROLE] = { setSourceIdentity: true };
    const denied = {
      name: 'AccessDenied',
      code: 'AccessDenied',
      status: 403,
      message: `User: ${MAIN_ARN} is not authorized to perform: sts:TagSession on resource: ${ROLE}`,
    };
    expect(await refusal({ Tags: [{ Key: 'a', Value: 'b' }] })).toEqual(denied);
    expect(await refusal({ Tags: [{ Key: 'a', Value: 'b' }], TransitiveTagKeys: ['a'] })).toEqual(denied);
    await expect(assume({ SourceIdentity: 'jane.doe' })).resolves.toBeDefined();
    sts.trust = { [ROLE]: { setSourceIdentity: true, tagSession: true } };
    await expect(assume({ Tags: [{ Key: 'a', Value: 'b' }] })).resolves.toBeDefined();
  });

  it('checks sts:SetSourceIdentity first, and leaves unlisted roles alone', async () => {
    sts.trust[ROLE] = {};
    expect((await refusal({ SourceIdentity: 'jane.doe', Tags: [{ Key: 'a', Value: 'b' }] })).message).toContain(
      'sts:SetSourceIdentity',
    );
    const other = 'arn:aws:iam::210987654321:role/other';
    await expect(
      assume({ RoleArn: other, SourceIdentity: 'jane.doe', Tags: [{ Key: 'a', Value: 'b' }] }),
    ).resolves.toBeDefined();
  });
});

describe('the packed size', () => {
  it('is refused over 100% of the budget, as PackedPolicyTooLargeException through the SDK', async () => {
    // Each of tags(10) is 2 + 2 + 2 = 6 bytes, 60 in all; then 1 + 37 + 2 = 40 bytes: 100.
    sts.packedBudgetBytes = 100;
    const full = [...tags(10), { Key: 'k', Value: 'v'.repeat(37) }];
    await expect(assume({ Tags: full })).resolves.toMatchObject({ PackedPolicySize: 100 });
    expect(await refusal({ Tags: [...tags(10), { Key: 'k', Value: 'v'.repeat(38) }] })).toEqual({
      name: 'PackedPolicyTooLargeException',
      code: 'PackedPolicyTooLarge',
      status: 400,
      message: 'Packed size of session tags consumes 101% of allotted space.',
    });
    // Bytes, not characters: é is two.
    expect((await refusal({ Tags: [...tags(10), { Key: 'k', Value: `é${'v'.repeat(36)}` }] })).message).toContain('101%');
  });

  it('counts what the source session already uses', async () => {
    sts.inheritedPackedPercent = 74;
    await expect(assume({ Tags: tags(1, () => 'k'.repeat(100), () => 'v'.repeat(200)) })).resolves.toMatchObject({
      PackedPolicySize: 89,
    });
    const many = tags(10, i => `key-${i}-${'k'.repeat(20)}`, () => 'v'.repeat(40));
    expect(await refusal({ Tags: many })).toMatchObject({
      name: 'PackedPolicyTooLargeException',
      message: expect.stringMatching(/^Packed size of session tags consumes 1\d\d% of allotted space\.$/),
    });
    sts.inheritedPackedPercent = 0;
    await expect(assume({ Tags: many })).resolves.toBeDefined();
  });
});

describe('role chaining', () => {
  async function chained(input: Partial<AssumeRoleCommandInput>) {
    const first = await assume(input);
    const c = first.Credentials!;
    return client({ accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! });
  }

  it('limits the duration to an hour, with AWS message', async () => {
    const via = await chained({});
    await expect(assume({ DurationSeconds: 3600 }, via)).resolves.toBeDefined();
    expect(await refusal({ DurationSeconds: 3601 }, via)).toEqual({
      name: 'ValidationError',
      code: 'ValidationError',
      status: 400,
      message: 'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.',
    });
    await expect(assume({ DurationSeconds: 7200 })).resolves.toBeDefined();
  });

  it('keeps the source identity and the transitive tags, and refuses changing or overriding them', async () => {
    const via = await chained({
      SourceIdentity: 'jane.doe',
      Tags: [{ Key: 'team', Value: 'data' }, { Key: 'local', Value: 'x' }],
      TransitiveTagKeys: ['team'],
    });
    const child = await assume({ RoleSessionName: 'second', Tags: [{ Key: 'local', Value: 'y' }] }, via);
    expect(child.SourceIdentity).toBe('jane.doe');
    const parent = sts.issued[0];
    expect(sts.sessionOf(child.Credentials!.AccessKeyId)).toMatchObject({
      roleSessionName: 'second',
      sourceIdentity: 'jane.doe',
      tags: [{ key: 'team', value: 'data' }, { key: 'local', value: 'y' }],
      transitiveTagKeys: ['team'],
      parentAccessKeyId: parent.accessKeyId,
    });
    await expect(assume({ SourceIdentity: 'jane.doe' }, via)).resolves.toBeDefined();
    expect(await refusal({ SourceIdentity: 'bob' }, via)).toMatchObject({ name: 'AccessDenied', status: 403 });
    expect(await refusal({ Tags: [{ Key: 'TEAM', Value: 'other' }] }, via)).toEqual({
      name: 'InvalidParameterValue',
      code: 'InvalidParameterValue',
      status: 400,
      message:
        "One of the specified transitive tag keys can't be set because it conflicts with a transitive tag key from the calling session.",
    });
  });

  it('names the calling session in AccessDenied, and needs the permissions for what it inherits', async () => {
    const via = await chained({ SourceIdentity: 'jane.doe', Tags: [{ Key: 'team', Value: 'd' }], TransitiveTagKeys: ['team'] });
    const parentArn = sts.issued[0].assumedRoleArn;
    sts.trust[ROLE] = { tagSession: true };
    expect((await refusal({ RoleSessionName: 'second' }, via)).message).toBe(
      `User: ${parentArn} is not authorized to perform: sts:SetSourceIdentity on resource: ${ROLE}`,
    );
    sts.trust[ROLE] = { setSourceIdentity: true };
    expect((await refusal({ RoleSessionName: 'second' }, via)).message).toBe(
      `User: ${parentArn} is not authorized to perform: sts:TagSession on resource: ${ROLE}`,
    );
  });
});

describe('the verifying upstream', () => {
  let upstream: VerifyingUpstream;
  afterEach(() => upstream?.close());

  const send = (url: string, headers: Record<string, string>) =>
    new Promise<number>((resolve, reject) => {
      http.get(url, { headers }, res => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      }).on('error', reject);
    });

  it("records the access key id each request claims, signed or presigned, so sessionOf names the caller's session", async () => {
    upstream = await startVerifyingUpstream(accepted);
    const answer = await assume({ SourceIdentity: 'jane.doe' });
    const c = answer.Credentials!;
    const credentials = { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
    const host = new URL(upstream.url).host;

    const signed = aws4.sign({ host, path: '/x', service: 'execute-api', region: 'eu-west-1' }, credentials);
    expect(await send(`${upstream.url}/x`, signed.headers as Record<string, string>)).toBe(200);
    const presigned = aws4.sign(
      { host, path: '/y', service: 'execute-api', region: 'eu-west-1', signQuery: true },
      credentials,
    );
    await send(`${upstream.url}${presigned.path}`, { host });
    await send(`${upstream.url}/z`, {});

    const [first, second, third] = upstream.received;
    expect(first.signatureError).toBeUndefined();
    expect(first.accessKeyId).toBe(c.AccessKeyId);
    expect(sts.sessionOf(first.accessKeyId)?.sourceIdentity).toBe('jane.doe');
    expect(second.accessKeyId).toBe(c.AccessKeyId);
    expect(third.accessKeyId).toBeUndefined();
  });
});

describe('the rules as pure functions (for the plugin to check what it sends)', () => {
  it('hold the limits', () => {
    expect(validRoleSessionName('ab')).toBe(true);
    expect(validRoleSessionName('a')).toBe(false);
    expect(validRoleSessionName('a'.repeat(64))).toBe(true);
    expect(validRoleSessionName('a'.repeat(65))).toBe(false);
    expect(validRoleSessionName('plugin:catalog')).toBe(false);
    expect(validSourceIdentity('plugin+catalog')).toBe(true);
    expect(validSourceIdentity('aws:x')).toBe(false);
    expect(validSessionTagKey('k'.repeat(128))).toBe(true);
    expect(validSessionTagKey('k'.repeat(129))).toBe(false);
    expect(validSessionTagKey('')).toBe(false);
    expect(validSessionTagKey('Aws:x')).toBe(false);
    expect(validSessionTagKey('équipe 1:a/b')).toBe(true);
    expect(validSessionTagKey('a#b')).toBe(false);
    expect(validSessionTagValue('')).toBe(true);
    expect(validSessionTagValue('v'.repeat(256))).toBe(true);
    expect(validSessionTagValue('v'.repeat(257))).toBe(false);
    expect(validSessionTagValue('group:default/team-a')).toBe(true);
    expect(validSessionTagValue('a,b')).toBe(false);
    expect(validSessionTag('backstage-user', 'user:default/jane.doe')).toBe(true);
    expect(validSessionTag('backstage-user', 'aws:x')).toBe(false);
    // Outside the BMP: counted as two (the stricter reading).
    expect(validSessionTagValue('𠀀'.repeat(128))).toBe(true);
    expect(validSessionTagValue('𠀀'.repeat(129))).toBe(false);
  });

  it('validateAssumeRole passes a good request and models the packed size', () => {
    const ok = { roleSessionName: 'jane.doe', tags: [{ key: 'a', value: 'b' }], transitiveTagKeys: [] };
    expect(validateAssumeRole(ok)).toBeUndefined();
    expect(packedPercent(ok.tags)).toBe(1);
    expect(packedPercent(ok.tags, { packedBudgetBytes: 4 })).toBe(100);
    expect(validateAssumeRole(ok, { packedBudgetBytes: 3 })).toMatchObject({ status: 400, code: 'PackedPolicyTooLarge' });
    expect(validateAssumeRole({ ...ok, roleSessionName: undefined })).toMatchObject({
      code: 'ValidationError',
      message: "1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null",
    });
  });
});
