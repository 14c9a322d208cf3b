/*
 * `backstage-cli config:check --strict` validates app-config against the JSON schema Backstage
 * generates from config.d.ts (without `--strict` it ignores schema errors). This test loads
 * that schema the way `--strict` does (@backstage/config-loader's loadConfigSchema over this
 * package, undeclared properties refused), runs the real command on two files, and checks
 * that the schema refuses, before any backend starts, what the plugin's reader would refuse
 * at start:
 *   - an unknown field in an expanded route, in `credentialsEndpoint` or in the section;
 *   - a malformed value in a field with a pattern (Backstage validates with Ajv's
 *     `coerceTypes`, so only a pattern can refuse a number written for a string);
 * and never refuses what the reader accepts (generated routes, fixed seed), nor what
 * `--lax` makes of a value taken from an unset environment variable (`x`).
 * It also keeps the schema's field lists and patterns equal to the reader's.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { ConfigReader } from '@backstage/config';
import { JsonObject, JsonValue } from '@backstage/types';
import {
  CREDENTIALS_ENDPOINT_FIELDS,
  FIELD_PATTERNS,
  FIELD_RANGES,
  METHODS,
  readProxyConfig,
  ROUTE_FIELDS,
  SESSION_PER_CALLER_FIELDS,
  TOP_LEVEL_KEYS,
} from './readRoutes';
import { fcParameters } from '../__testUtils__/fcSettings';
import { APP_SECTIONS, ConfigSchema, loadStrictConfigSchema } from '../__testUtils__/configCheck';
import { ROOT } from '../__testUtils__/docPages';

let schema: ConfigSchema;

beforeAll(async () => {
  schema = await loadStrictConfigSchema();
}, 120_000);

const AWS = { accounts: [{ accountId: '123456789012', roleName: 'reader' }] };

/** config:check's verdict on this `proxysigv4` section: undefined if accepted, else the message. */
function check(proxysigv4: JsonValue): string | undefined {
  try {
    schema.process([{ context: 'app-config.yaml', data: { ...APP_SECTIONS, aws: AWS, proxysigv4 } as JsonObject }]);
    return undefined;
  } catch (error) {
    return String((error as Error).message);
  }
}

/** The reader's verdict: undefined if the plugin would start, else its message. */
function read(proxysigv4: JsonValue): string | undefined {
  try {
    readProxyConfig(new ConfigReader({ aws: AWS, proxysigv4 } as JsonObject));
    return undefined;
  } catch (error) {
    return String((error as Error).message);
  }
}

const API = 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod';
const ROLE = 'arn:aws:iam::123456789012:role/reader';

describe('config:check accepts every valid form', () => {
  it.each<[string, JsonObject]>([
    ['the short form', { '/reports': 'https://reports.s3.eu-west-1.amazonaws.com' }],
    ["Segment's expanded form", {
      allowUnauthenticatedRequests: true,
      '/api': { target: API, roleArn: ROLE, roleSessionName: 'backstage', service: 'execute-api', region: 'eu-west-1' },
    }],
    ['every route field', {
      checkCredentialsOnStart: false,
      '/all': {
        target: API, service: 'execute-api', region: 'eu-west-1', roleArn: ROLE,
        externalId: 'ext-1234', roleSessionName: 'backstage', durationSeconds: 3600,
        stsRegion: 'eu-west-1', stsEndpoint: 'https://sts.eu-west-1.amazonaws.com',
        credentials: 'require', permission: 'proxy-sigv4.all.use',
        allowedMethods: ['GET', 'POST'], allowedHeaders: ['x-amz-target'],
        allowedResponseHeaders: ['x-request-id'], maxBodySize: 1024, unsignedPayload: false,
        timeout: 5000, debug: false, dangerouslyAllowHttp: false,
      },
      '/account': { target: API, accountId: '123456789012' },
      '/table': { target: 'https://dynamodb.eu-west-1.amazonaws.com', allowedOperations: ['GetItem', 'Query'] },
      '/endpoint': { target: API, credentialsEndpoint: { url: 'https://creds.internal', headers: { 'x-api-key': 'k' } } },
      '/per-caller': {
        target: API, roleArn: ROLE,
        sessionPerCaller: { sourceIdentity: true, sessionTags: true, transitiveTags: true, maxCallers: 500, maxGroupTags: 45 },
      },
      '/per-caller-short': { target: API, roleArn: ROLE, sessionPerCaller: true },
      '/per-caller-endpoint': { target: API, credentialsEndpoint: { url: 'https://creds.internal' }, sessionPerCaller: { sessionTags: false } },
    }],
  ])('%s', (_, section) => {
    expect(read(section)).toBeUndefined();
    expect(check(section)).toBeUndefined();
  });
});

describe('config:check refuses what the plugin would refuse at start', () => {
  it.each<[string, JsonObject, RegExp]>([
    // Unknown fields: a typo would otherwise be ignored by the schema and stop the start.
    ['a misspelt route field', { '/r': { target: API, servic: 's3' } }, /proxysigv4\/\/r\b[\s\S]*propertyName=servic\b/],
    ['a field in the wrong case', { '/r': { target: API, roleARN: ROLE } }, /propertyName=roleARN\b/],
    ['a misspelt section setting', { allowUnauthenticatedRequest: true }, /propertyName=allowUnauthenticatedRequest\b/],
    ['a misspelt credentialsEndpoint field', { '/r': { target: API, credentialsEndpoint: { url: 'https://c.internal', header: {} } } }, /propertyName=header\b/],
    ['a misspelt sessionPerCaller field', { '/r': { target: API, roleArn: ROLE, sessionPerCaller: { sessionTag: true } } }, /propertyName=sessionTag\b/],
    ['a word for sessionPerCaller', { '/r': { target: API, roleArn: ROLE, sessionPerCaller: 'yes' } }, /sessionPerCaller/],
    ['too many callers', { '/r': { target: API, roleArn: ROLE, sessionPerCaller: { maxCallers: 100001 } } }, /sessionPerCaller\/maxCallers/],
    // Malformed values, including numbers where a string is due.
    ['a number for a region', { '/r': { target: API, region: 7 } }, /must match pattern[^;]*\/r\/region/],
    ['a region with a space inside', { '/r': { target: API, region: 'eu west 1' } }, /must match pattern[^;]*\/r\/region/],
    ['an upper-case service', { '/r': { target: API, service: 'S3' } }, /must match pattern[^;]*\/r\/service/],
    ['a short account id', { '/r': { target: API, accountId: '12345' } }, /must match pattern[^;]*\/r\/accountId/],
    ['a role ARN of the wrong service', { '/r': { target: API, roleArn: 'arn:aws:sts::123456789012:role/reader' } }, /must match pattern[^;]*\/r\/roleArn/],
    ['a one-character session name', { '/r': { target: API, roleArn: ROLE, roleSessionName: 'y' } }, /must match pattern[^;]*\/r\/roleSessionName/],
    ['an external id with a space', { '/r': { target: API, roleArn: ROLE, externalId: 'a b c' } }, /must match pattern[^;]*\/r\/externalId/],
    ['a permission with a space', { '/r': { target: API, permission: 'read reports' } }, /must match pattern[^;]*\/r\/permission/],
    ['a word for a number', { '/r': { target: API, durationSeconds: 'an hour' } }, /must be number[^;]*\/r\/durationSeconds/],
    ['a word for a boolean', { '/r': { target: API, debug: 'yes' } }, /must be boolean[^;]*\/r\/debug/],
    ['a string for a list', { '/r': { target: API, allowedMethods: 'GET' } }, /must be array[^;]*\/r\/allowedMethods/],
    ['an unknown caller policy', { '/r': { target: API, credentials: 'open' } }, /must be equal to one of the allowed values[^;]*\/r\/credentials/],
    ['a route without a target', { '/r': { region: 'eu-west-1' } }, /must have required property 'target'/],
    ['a number for a route', { '/r': 7 }, /must match pattern[^;]*at \/proxysigv4\/\/r;/],
    ['true for a route', { '/r': true }, /must match pattern[^;]*at \/proxysigv4\/\/r;/],
    ['a number for a target', { '/r': { target: 7 } }, /must match pattern[^;]*\/r\/target/],
    ['a duration below the minimum', { '/r': { target: API, roleArn: ROLE, durationSeconds: 100 } }, /must be >= 900[^;]*\/r\/durationSeconds/],
    ['a negative body size', { '/r': { target: API, maxBodySize: -1 } }, /must be >= 0[^;]*\/r\/maxBodySize/],
    ['a fractional timeout', { '/r': { target: API, timeout: 1.5 } }, /must be multiple of 1[^;]*\/r\/timeout/],
    ['an unknown method', { '/r': { target: API, allowedMethods: ['GET', 'FETCH'] } }, /must match pattern[^;]*\/r\/allowedMethods\/1/],
  ])('%s', (_, section, message) => {
    expect(read(section)).toBeDefined();
    expect(check(section)).toMatch(message);
  });
});

describe('config:check --lax: unset variables become x', () => {
  it.each<[string, JsonObject]>([
    ['a whole target', { '/r': { target: 'x', service: 'x', region: 'x' } }],
    ['a short form', { '/r': 'x' }],
    ['an account id', { '/r': { target: API, accountId: 'x' } }],
    ["a role ARN and its account id", {
      '/a': { target: API, roleArn: 'x', externalId: 'x', roleSessionName: 'x', stsRegion: 'x' },
      '/b': { target: API, roleArn: 'arn:aws:iam::x:role/reader' },
    }],
    ['a permission and a method', { '/r': { target: API, permission: 'x', allowedMethods: ['x'] } }],
  ])('%s', (_, section) => {
    expect(check(section)).toBeUndefined();
  });

  it('leaves the reader to refuse x at start', () => {
    expect(read({ '/r': { target: API, region: 'x' } })).toMatch(/region: 'x' is not a valid AWS region/);
  });
});

describe('the real command', () => {
  const run = (yaml: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'config-check-'));
    fs.writeFileSync(path.join(dir, 'app-config.yaml'), yaml);
    const result = spawnSync(
      path.join(ROOT, 'node_modules/.bin/backstage-cli'),
      ['config:check', '--strict', '--lax', '--config', path.join(dir, 'app-config.yaml')],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ACCOUNT: '', EXTERNAL_ID: '' } },
    );
    fs.rmSync(dir, { recursive: true, force: true });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
  };
  const app = `app: { baseUrl: 'http://localhost:3000' }
backend:
  baseUrl: http://localhost:7007
  listen: { port: 7007 }
  database: { client: better-sqlite3, connection: ':memory:' }
`;

  it('config:check --strict --lax refuses a typo in a route, naming it', () => {
    const { status, output } = run(`${app}proxysigv4:
  '/reports':
    target: https://my-reports-bucket.s3.eu-west-1.amazonaws.com
    servic: s3
`);
    expect(status).toBe(1);
    expect(output).toMatch(/propertyName=servic\b[^\n]*at \/proxysigv4\/\/reports/);
  }, 120_000);

  it('config:check --strict --lax accepts values from unset variables', () => {
    const { status, output } = run(`${app}proxysigv4:
  '/reports':
    target: https://my-reports-bucket.s3.eu-west-1.amazonaws.com
    roleArn: arn:aws:iam::\${ACCOUNT}:role/reader
    externalId: \${EXTERNAL_ID}
`);
    expect([status, output]).toEqual([0, expect.stringContaining('Loaded config from')]);
  }, 120_000);
});

describe('the schema says what the reader says', () => {
  /** Our package's generated schema, as `config:check` and the packed config.schema.json have it. */
  function ourSchema() {
    const { schemas } = schema.serialize() as unknown as { schemas: { path: string; value: unknown }[] };
    const entry = schemas.find(s => path.resolve(s.path).startsWith(ROOT) && !s.path.includes('node_modules'));
    const section = (entry!.value as any).properties.proxysigv4;
    const union = section.additionalProperties;
    const route = union.anyOf.find((s: any) => s.type === 'object');
    return { section, union, route };
  }

  it('lists the same section settings, route fields and credentialsEndpoint fields', () => {
    const { section, union, route } = ourSchema();
    expect(section.propertyNames.anyOf).toEqual([{ enum: [...TOP_LEVEL_KEYS] }, { pattern: '^/' }]);
    expect([...union.then.propertyNames.enum].sort()).toEqual([...ROUTE_FIELDS].sort());
    expect(Object.keys(route.properties).sort()).toEqual([...ROUTE_FIELDS].sort());
    expect(route.properties.credentialsEndpoint.propertyNames.enum).toEqual([...CREDENTIALS_ENDPOINT_FIELDS]);
    expect(route.properties.sessionPerCaller.then.propertyNames.enum).toEqual([...SESSION_PER_CALLER_FIELDS]);
    const perCaller = route.properties.sessionPerCaller.anyOf.find((s: any) => s.type === 'object');
    expect(Object.keys(perCaller.properties).sort()).toEqual([...SESSION_PER_CALLER_FIELDS].sort());
  });

  it("gives each patterned field the reader's pattern, with the spaces the reader trims", () => {
    const { route } = ourSchema();
    const patterned = Object.entries(route.properties as Record<string, { pattern?: string }>)
      // (target's pattern only asks for a URL scheme: the reader parses the URL itself.)
      .filter(([name, field]) => field.pattern !== undefined && name !== 'target')
      .map(([name, field]) => [name, field.pattern]);
    // `x` is what `config:check --lax` puts for an unset variable: a whole value, or a role
    // ARN's account id (`arn:aws:iam::${ACCOUNT}:role/...`).
    const lax = (name: string, inner: string) =>
      name === 'roleArn' ? inner.replace('\\d{12}', '(?:\\d{12}|x)') : inner;
    const expected = Object.entries(FIELD_PATTERNS).map(([name, re]) => [
      name,
      `^\\s*(?:x|${lax(name, re.source.slice(1, -1))})\\s*$`,
    ]);
    expect(Object.fromEntries(patterned)).toEqual(Object.fromEntries(expected));
  });

  it("gives each number field the reader's range, whole numbers only", () => {
    const { route } = ourSchema();
    type Field = { type?: string; minimum?: number; maximum?: number; multipleOf?: number };
    // sessionPerCaller and presign are `true`, `false` or an object whose numbers are named
    // `<field>.<number field>`.
    const nested = (field: string): [string, Field][] =>
      Object.entries(
        route.properties[field].anyOf.find((s: any) => s.type === 'object').properties as Record<string, Field>,
      ).map(([name, f]): [string, Field] => [`${field}.${name}`, f]);
    const fields: [string, Field][] = [
      ...Object.entries(route.properties as Record<string, Field>),
      ...nested('sessionPerCaller'),
      ...nested('presign'),
    ];
    const ranged = fields
      .filter(([, field]) => field.type === 'number')
      .map(([name, field]) => [name, [field.minimum, field.maximum, field.multipleOf]]);
    const expected = Object.entries(FIELD_RANGES).map(([name, [min, max]]) => [name, [min, max, 1]]);
    expect(Object.fromEntries(ranged)).toEqual(Object.fromEntries(expected));
  });

  it('allows the methods the reader allows, in any case, and a URL for a target or a short form', () => {
    const { union, route } = ourSchema();
    const method = new RegExp(route.properties.allowedMethods.items.pattern);
    for (const m of METHODS) {
      expect([m, method.test(m), method.test(` ${m.toLowerCase()} `)]).toEqual([m, true, true]);
    }
    expect(['FETCH', 'GETS', 'get x', ''].filter(m => method.test(m))).toEqual([]);
    expect(method.test('x')).toBe(true);
    expect(route.properties.target.pattern).toBe(union.else.pattern);
    const url = new RegExp(union.else.pattern);
    expect([' https://x.example', 'http://127.0.0.1:1', 'x'].every(u => url.test(u))).toBe(true);
    expect(['7', 'true', '', 'x.example'].filter(u => url.test(u))).toEqual([]);
  });

  it('agrees with the reader on presign and maxUploadSize (S3 routes)', () => {
    const bucket = 'https://reports.s3.eu-west-1.amazonaws.com';
    const accepted: JsonValue[] = [
      { presign: true },
      { presign: false },
      { presign: { methods: ['get', ' Put ', 'DELETE'] } },
      { presign: { maxExpiresIn: 604800 } },
      { maxUploadSize: 5 * 1024 ** 3 },
    ];
    for (const fields of accepted) {
      const section = { '/r': { target: bucket, ...(fields as object) } };
      expect([fields, read(section), check(section)]).toEqual([fields, undefined, undefined]);
    }
    const refused: JsonValue[] = [
      { presign: { methods: ['POST'] } },
      { presign: { maxExpiresIn: 604801 } },
      { presign: { expiresIn: 60 } },
      { presign: 'yes' },
      { maxUploadSize: -1 },
    ];
    for (const fields of refused) {
      const section = { '/r': { target: bucket, ...(fields as object) } };
      expect([fields, read(section) !== undefined, check(section) !== undefined]).toEqual([fields, true, true]);
    }
  });

  it('never refuses a route the reader accepts (generated routes)', () => {
    // Per field: values the reader accepts, edge cases included (spaces it trims, other
    // partitions, longest lengths), and a few it refuses; mostly the former, so that many
    // generated routes are accepted and the property has something to say.
    const either = (valid: JsonValue[], invalid: JsonValue[]) =>
      fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...valid) }, { weight: 1, arbitrary: fc.constantFrom(...invalid) });
    const fields: Record<string, fc.Arbitrary<JsonValue>> = {
      service: either(['execute-api', 's3', 'es', ' lambda ', 'a-1'], ['S3', 's 3', '', 7]),
      region: either(['eu-west-1', ' us-gov-west-1 ', 'cn-north-1', 'eu-isoe-west-1', 'ap-southeast-12'], ['EU-WEST-1', 'eu', 7]),
      stsRegion: either(['eu-west-1', ' us-east-1'], ['xx', 1]),
      roleArn: either([ROLE, 'arn:aws-cn:iam::123456789012:role/path/to/r', ` arn:aws-us-gov:iam::123456789012:role/${'r'.repeat(64)} `], ['arn:aws:iam::1:role/r']),
      externalId: either(['ext-1234', 'a:b/c=d,e.f@g', 'x'.repeat(1224)], ['a', 'a b']),
      roleSessionName: either(['backstage', 's'.repeat(64), ' a=b,c.d@e-f '], ['x', 'a b']),
      durationSeconds: either([900, 3600, 43200], ['3600', 'an hour', 1.5, 899, 43201]),
      permission: either(['proxy-sigv4.r.use', 'A', `p${'.'.repeat(199)}`], ['-x', 'a b']),
      debug: either([true, false], ['true', 'yes']),
      credentials: either(['require'], ['open']),
      allowedMethods: either([['GET'], ['get', ' Put '], ['OPTIONS', 'DELETE', 'PATCH', 'HEAD', 'POST']], ['GET', ['FETCH']]),
      maxBodySize: either([0, 1024, 2 ** 31 - 1], [-1, 'big', 2 ** 31]),
      timeout: either([1, 60000, 3_600_000], ['soon', 0, 1.5]),
    };
    // A role on most routes, since several fields are refused without one.
    const routes = fc.record(fields, { requiredKeys: ['roleArn'] }).map(route => ({ target: API, ...route }) as JsonObject);
    let accepted = 0;
    fc.assert(
      fc.property(routes, route => {
        const section = { '/r': route };
        if (read(section) !== undefined) return true;
        accepted += 1;
        return check(section) === undefined;
      }),
      fcParameters(300),
    );
    // The generator must reach accepted routes, or the property says nothing.
    expect(accepted).toBeGreaterThan(80);
  });
});
