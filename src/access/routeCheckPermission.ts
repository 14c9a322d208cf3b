import { createPermission } from '@backstage/plugin-permission-common';

/**
 * Who may read the route check (`/_routes`): it shows every route's target, credential
 * source and role, and each uncached call costs an sts:GetCallerIdentity per route. Registered
 * by the plugin, so a policy can grant it to operators only.
 */
export const routeCheckPermission = createPermission({
  name: 'proxysigv4.routes.check',
  attributes: { action: 'read' },
});
