/**
 * A Backstage backend plugin that signs requests with AWS Signature Version 4 and
 * streams them to AWS endpoints.
 *
 * @packageDocumentation
 */
export { proxySigV4Plugin as default } from './plugin';
export { createRouter } from './service/router';
export { proxySigV4RoutesExtensionPoint } from './config/moduleRoutes';
export type { ProxySigV4RoutesExtensionPoint } from './config/moduleRoutes';
export type { RouterOptions, ProxyRouter } from './service/router';
export type { RouteSetChange, RouteSet } from './service/routeSet';
export type {
  RouteConfig,
  CredentialsPolicy,
  CredentialSourceConfig,
  BaseCredentialSource,
  CredentialsEndpointSource,
  RoleCredentialSource,
  EndpointCredentialSource,
  SessionPerCaller,
  StsTarget,
} from './config/types';
