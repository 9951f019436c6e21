/**
 * A token's `aud` (or a request's `resource` / `audience`, RFC 8707 and RFC 8693 §2.1) as a list: one value or several
 * are both allowed on the wire.
 */
export const audienceOf = (aud: string | string[] | undefined): string[] => (Array.isArray(aud) ? aud : aud ? [aud] : []);
