/*
 * Local stand-ins for AWS, on loopback, that check what they receive with an implementation
 * other than the plugin's signer (aws4): an upstream that verifies SigV4 signatures, an S3
 * (s3rver behind the same verifier), an STS that issues temporary credentials, port probes,
 * and the app-config of a backend started beside them. The demo (dev/), the tests (under
 * src/), the benchmark (bench/) and the e2e scripts (e2e/) all import them from here, and
 * only from this index. Not part of the plugin:
 * the published package holds dist/ only.
 */
export { freePort, listenError } from './portProbes';
export { backendConfigYaml } from './backendConfig';
export {
  awsErrorHandler,
  echoHandler,
  startVerifyingUpstream,
  verifySignature,
} from './verifyingUpstream';
export type {
  AcceptedCredentials,
  Aws4Trace,
  ReceivedRequest,
  UpstreamHandler,
  VerifyingUpstream,
} from './verifyingUpstream';
export { S3RVER_CREDENTIALS, startVerifyingS3 } from './verifyingS3';
export type { VerifyingS3, VerifyingS3Options } from './verifyingS3';
export { startLocalSts } from './localSts';
export type { LocalSts, LocalStsOptions, SourceIdentity, StsCall, StsMode } from './localSts';
