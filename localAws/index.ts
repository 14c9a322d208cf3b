/*
 * Local stand-ins for AWS, on loopback, that check what they receive with an implementation
 * other than the plugin's signer (aws4): an upstream that verifies SigV4 signatures (and
 * every chunk of a streamed upload, and presigned URLs, with verifiers written from the
 * specification: chunkedVerifier, presignedVerifier), an S3 (s3rver behind the same
 * verifier), an STS that issues temporary credentials, port probes, and the app-config of a backend started beside them; and STS's rules for session names,
 * source identities and session tags (stsRules), for the plugin's tests to check against.
 * The demo (dev/), the tests (under src/), the benchmark (bench/) and the e2e scripts (e2e/)
 * all import them from here, and only from this index. Not part of the plugin: the
 * published package holds dist/ only.
 */
export { freePort, listenError } from './portProbes';
export { backendConfigYaml } from './backendConfig';
export {
  awsErrorHandler,
  echoHandler,
  startVerifyingUpstream,
  STREAMING_PAYLOAD,
  verifyRequest,
  verifySignature,
} from './verifyingUpstream';
export type {
  AcceptedCredentials,
  Aws4Trace,
  ReceivedRequest,
  SignatureCheck,
  UpstreamHandler,
  VerifyingUpstream,
} from './verifyingUpstream';
export { MIN_CHUNK_BYTES, verifyChunkedBody } from './chunkedVerifier';
export type { ChunkedBody, ChunkedBodyCheck } from './chunkedVerifier';
export { MAX_PRESIGNED_EXPIRES, verifyPresigned } from './presignedVerifier';
export type { PresignedCheck } from './presignedVerifier';
export { S3RVER_CREDENTIALS, startVerifyingS3 } from './verifyingS3';
export type { VerifyingS3, VerifyingS3Options } from './verifyingS3';
export { sessionParamsOf, startLocalSts } from './localSts';
export type {
  IssuedSession,
  LocalSts,
  LocalStsOptions,
  SourceCredentials,
  StsCall,
  StsMode,
} from './localSts';
export {
  CHAINED_MAX_DURATION_SECONDS,
  DEFAULT_PACKED_BUDGET_BYTES,
  MAX_SESSION_TAGS,
  notAuthorized,
  packedPercent,
  sameTagKey,
  SESSION_NAME_MAX_LENGTH,
  SESSION_NAME_MIN_LENGTH,
  SESSION_NAME_PATTERN,
  TAG_KEY_MAX_LENGTH,
  TAG_KEY_PATTERN,
  TAG_VALUE_MAX_LENGTH,
  TAG_VALUE_PATTERN,
  validateAssumeRole,
  validRoleSessionName,
  validSessionTag,
  validSessionTagKey,
  validSessionTagValue,
  validSourceIdentity,
} from './stsRules';
export type {
  AssumeRoleContext,
  AssumeRoleSessionParams,
  PackedSizeOptions,
  ParentSession,
  RoleTrust,
  SessionTag,
  StsError,
} from './stsRules';
