/**
 * The DPoP proof algorithms oauth3 accepts, at the token endpoint (oidc-provider's `dPoPSigningAlgValues`, advertised
 * in discovery) and at the resource API (RFC 9728 metadata, the `algs` of the DPoP challenge): asymmetric only
 * (RFC 9449 §4.3 item 5), never `none` or an HMAC.
 */
export const DPOP_SIGNING_ALGS = ['ES256', 'ES384', 'PS256', 'RS256', 'Ed25519', 'EdDSA'];
