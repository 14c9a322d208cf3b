/*
 * A permission policy for tests, installed in the real permission backend: it allows what a
 * function says and records every decision. Not part of the plugin.
 */
import { createBackendModule } from '@backstage/backend-plugin-api';
import { mockCredentials } from '@backstage/backend-test-utils';
import { AuthorizeResult, PolicyDecision } from '@backstage/plugin-permission-common';
import { policyExtensionPoint } from '@backstage/plugin-permission-node/alpha';
import permissionBackend from '@backstage/plugin-permission-backend';

export interface RecordedDecision {
  name: string;
  action?: string;
  user?: string;
  result: AuthorizeResult;
}

/**
 * The permission backend and a policy module: `allow(user, name, action)` decides, and each
 * decision is pushed onto `decisions`. Pass `features` to startProxy, with the config
 * `{ permission: { enabled: true } }`.
 */
export function recordingPolicy(
  allow: (user: string | undefined, name: string, action: string | undefined) => boolean,
) {
  const decisions: RecordedDecision[] = [];
  const policy = createBackendModule({
    pluginId: 'permission',
    moduleId: 'recording-test-policy',
    register(reg) {
      reg.registerInit({
        deps: { policy: policyExtensionPoint },
        async init({ policy: point }) {
          point.setPolicy({
            async handle(request, user): Promise<PolicyDecision> {
              const who = user?.info.userEntityRef;
              const action = request.permission.attributes.action;
              const result = allow(who, request.permission.name, action)
                ? AuthorizeResult.ALLOW
                : AuthorizeResult.DENY;
              decisions.push({ name: request.permission.name, action, user: who, result });
              return { result };
            },
          });
        },
      });
    },
  });
  return { decisions, features: [permissionBackend, policy] };
}

/** The Authorization header of a mock Backstage user with this entity ref. */
export const userToken = (ref: string) => `Bearer ${mockCredentials.user.token(ref)}`;
