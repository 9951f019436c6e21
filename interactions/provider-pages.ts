import type { ProviderPages } from '../src/provider/provider.js';
import { devicePages } from './device-flow.js';
import { logoutPage } from './views/logout.js';

/** The pages oidc-provider renders on its own routes, in oauth3's look: logout's confirmation and the device flow's. */
export function providerPages(): ProviderPages {
  return {
    logoutSource: async (ctx, form) => {
      ctx.type = 'html';
      ctx.body = logoutPage({ form });
    },
    deviceFlow: devicePages(),
  };
}
