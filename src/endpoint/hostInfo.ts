/*
 * Derives the SigV4 signing name ("service") and region from an AWS endpoint host name.
 *
 * The signing name is not always the first label of the host (bedrock-runtime signs as
 * "bedrock", data-ats.iot as "iotdata", ...), so the known irregular shapes are listed
 * explicitly and everything else follows the SDK convention `<service>.<region>.<suffix>`.
 * A host that matches none of them (a custom domain, a CNAME, localhost) yields undefined:
 * the route must then say `service` and `region` itself. Nothing is guessed.
 */

/** What the host says about how to sign for it. Either field may be unknown. */
export interface HostInfo {
  service?: string;
  region?: string;
}

const REGION = /^(?:[a-z]{2}|us-gov|us-iso[a-z]?|eu-iso[a-z]?)-[a-z]+-\d{1,2}$/;

/** Partition suffixes, longest first. */
const SUFFIXES = [
  'amazonaws.com.cn',
  'api.amazonwebservices.com.cn',
  'amazonaws.com',
  'api.aws',
  'on.aws',
];

/** Endpoint prefixes whose signing name differs from the prefix. */
const SIGNING_NAMES: Record<string, string> = {
  'bedrock-runtime': 'bedrock',
  'bedrock-agent-runtime': 'bedrock',
  'bedrock-agent': 'bedrock',
  'runtime.sagemaker': 'sagemaker',
  'api.sagemaker': 'sagemaker',
  'a2i-runtime.sagemaker': 'sagemaker',
  'featurestore-runtime.sagemaker': 'sagemaker',
  'data.iot': 'iotdata',
  'data-ats.iot': 'iotdata',
  email: 'ses',
  'runtime.lex': 'lex',
  'runtime-v2-lex': 'lex',
  'models.lex': 'lex',
  'streams.dynamodb': 'dynamodb',
  'api.ecr': 'ecr',
  'api.pricing': 'pricing',
  'api.mediatailor': 'mediatailor',
  'data.mediastore': 'mediastore',
  'data-jobs.iot': 'iot-jobs-data',
  'api.iot': 'iot',
  'states-fips': 'states',
};

/** Services with a single global endpoint `<service>.amazonaws.com`, signed in us-east-1. */
const GLOBAL_SERVICES = new Set([
  'iam',
  'sts',
  'cloudfront',
  'route53',
  'organizations',
  'shield',
  'globalaccelerator',
  'networkmanager',
]);

function isRegion(label: string | undefined): label is string {
  return label !== undefined && REGION.test(label);
}

function stripFips(label: string): string {
  return label.endsWith('-fips') ? label.slice(0, -'-fips'.length) : label;
}

/** S3 in all its host shapes: path-style, virtual-hosted, dash-region, dualstack, FIPS, accelerate, access points. */
function s3Info(labels: string[]): HostInfo | undefined {
  // Find the right-most label that names S3 (a bucket name may itself contain dots or "s3").
  for (let i = labels.length - 1; i >= 0; i--) {
    const label = labels[i];
    const after = labels.slice(i + 1);
    if (label === 's3-accelerate') {
      // s3-accelerate[.dualstack].amazonaws.com: the bucket's region is not in the host.
      if (after.length === 0 || (after.length === 1 && after[0] === 'dualstack')) {
        return { service: 's3' };
      }
      return undefined;
    }
    const dash = /^s3(?:-fips)?-((?:[a-z]{2}|us-gov)-[a-z]+-\d{1,2})$/.exec(label);
    if (dash && after.length === 0) {
      return { service: 's3', region: dash[1] };
    }
    if (
      label === 's3' ||
      label === 's3-fips' ||
      label === 's3-accesspoint' ||
      label === 's3-accesspoint-fips' ||
      label === 's3-control' ||
      label === 's3-control-fips'
    ) {
      const rest = after[0] === 'dualstack' ? after.slice(1) : after;
      if (rest.length === 0) {
        // s3.amazonaws.com, <bucket>.s3.amazonaws.com: us-east-1
        return label === 's3' ? { service: 's3', region: 'us-east-1' } : undefined;
      }
      if (rest.length === 1 && isRegion(rest[0])) {
        return { service: 's3', region: rest[0] };
      }
      return undefined;
    }
    if (label === 's3-object-lambda' && after.length === 1 && isRegion(after[0])) {
      return { service: 's3-object-lambda', region: after[0] };
    }
  }
  return undefined;
}

/**
 * Returns the signing name and region that an AWS host name implies, as far as it
 * implies them. An unknown shape returns `{}`.
 */
export function hostInfo(hostname: string): HostInfo {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  const suffix = SUFFIXES.find(s => host.endsWith(`.${s}`));
  if (!suffix) {
    return {};
  }
  let labels = host.slice(0, -(suffix.length + 1)).split('.');

  if (suffix === 'on.aws') {
    // <url-id>.lambda-url.<region>.on.aws
    const n = labels.length;
    if (n >= 3 && labels[n - 2] === 'lambda-url' && isRegion(labels[n - 1])) {
      return { service: 'lambda', region: labels[n - 1] };
    }
    return {};
  }

  // VPC interface endpoints: <vpce-id>[-az].<service>.<region>.vpce.amazonaws.com
  let vpce = false;
  if (labels[labels.length - 1] === 'vpce') {
    vpce = true;
    labels = labels.slice(0, -1);
  }

  // OpenSearch: search-<domain>.<region>.es.amazonaws.com, <id>.<region>.aoss.amazonaws.com
  const last = labels[labels.length - 1];
  if (
    (last === 'es' || last === 'aoss') &&
    labels.length >= 3 &&
    isRegion(labels[labels.length - 2])
  ) {
    return { service: last, region: labels[labels.length - 2] };
  }

  const s3 = s3Info(labels);
  if (s3) {
    return s3;
  }

  const regionIndex = labels.findIndex(isRegion);
  if (regionIndex === -1) {
    // Global endpoints: iam.amazonaws.com, sts.amazonaws.com, ...
    if (labels.length === 1 && GLOBAL_SERVICES.has(labels[0]) && !vpce) {
      return {
        service: labels[0],
        region: suffix === 'amazonaws.com.cn' ? 'cn-north-1' : 'us-east-1',
      };
    }
    return {};
  }
  if (regionIndex !== labels.length - 1 || regionIndex === 0) {
    return {};
  }
  const region = labels[regionIndex];
  const before = labels.slice(0, regionIndex);
  const svcLabel = before[before.length - 1];

  const prefix = before.join('.');
  const mapped = SIGNING_NAMES[prefix] ?? SIGNING_NAMES[stripFips(prefix)];
  if (mapped && !vpce) {
    return { service: mapped, region };
  }
  // <id>.execute-api.<region>, <id>.appsync-api.<region>, <id>[-ats].iot.<region>
  if (svcLabel === 'execute-api') {
    return { service: 'execute-api', region };
  }
  if (svcLabel === 'appsync-api') {
    return { service: 'appsync', region };
  }
  if (svcLabel === 'iot') {
    return { service: before.length > 1 ? 'iotdata' : 'iot', region };
  }
  if (vpce) {
    return { service: SIGNING_NAMES[svcLabel] ?? stripFips(svcLabel), region };
  }

  if (before.length === 1) {
    // The SDK convention: <service>[-fips].<region>.amazonaws.com
    return { service: stripFips(before[0]), region };
  }
  return { region };
}
