/**
 * oidc-provider's DPoP helpers for grant types (RFC 9449 §5), which it binds only for its built-in grants. The token
 * exchange grant (src/provider/token-exchange.ts) uses them so its tokens are bound exactly like the others.
 */
declare module 'oidc-provider/lib/helpers/validate_dpop.js' {
  export default function validateDpop(
    provider: object,
    ctx: object,
  ): Promise<{ thumbprint: string; jti: string; iat: number } | undefined>;
}
declare module 'oidc-provider/lib/helpers/grant_common.js' {
  export function applyDpopBinding(provider: object, ctx: object, dPoP: unknown, token: object): Promise<void>;
}
declare module 'oidc-provider/lib/helpers/grant_source.js' {
  /** The configured findAccount (src/provider/provider.ts): undefined for a disabled or deleted owner. */
  export function findAccount(provider: object, ctx: object, accountId: string, source: object): Promise<{ accountId: string } | undefined>;
}
declare module 'oidc-provider/lib/helpers/sender_constraints.js' {
  export function checkDpopRequired(provider: object, ctx: object, dPoP: unknown): void;
}
