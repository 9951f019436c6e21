-- No usable credential at rest (docs/threat-model.md J2): oidc_models holds the SHA-256 digest of every token, code and
-- session id instead of the value (adapters/at-rest.ts). The rows written before this version are brought to that
-- form here; README (Deployment, "Upgrading to digests at rest") says what owners and apps notice.

-- base64url(SHA-256(domain ":" value)), exactly as digestOf in adapters/at-rest.ts. sha256() is built in (no
-- pgcrypto), on Postgres and on PGlite.
CREATE FUNCTION oauth3_digest(domain text, value text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT rtrim(translate(encode(sha256(convert_to(domain || ':' || value, 'UTF8')), 'base64'), '+/', '-_'), '=')
$$;

-- Tokens, codes, pushed requests, replay records and sessions whose key was their value: digested in place, so apps
-- and agents keep their tokens and owners stay signed in. A client-credentials token is hashed in the access token's
-- domain. Grants keep their ids (not credentials; our SQL joins on them).
UPDATE oidc_models
  SET id = oauth3_digest(CASE model WHEN 'ClientCredentials' THEN 'AccessToken' ELSE model END, id), payload = payload - 'jti'
  WHERE model <> 'Grant' AND payload ? 'jti' AND model NOT IN ('Interaction', 'DeviceCode');

-- Sign-ins and device approvals in progress: their payloads name sessions, device codes, pushed requests and user codes
-- by value, and a user code's digest needs the master key, which SQL does not have. They live minutes; whoever was in
-- the middle of one starts again.
DELETE FROM oidc_models WHERE model IN ('Interaction', 'DeviceCode');
DELETE FROM interaction_decisions;

-- The console's list of signed-in browsers: the session id becomes its digest (the Session row's key), and browsers
-- whose session is no longer stored in the database go (with Redis, sessions there are not converted: those owners
-- sign in again).
UPDATE browser_sessions SET session_id = oauth3_digest('Session', session_id);
DELETE FROM browser_sessions b WHERE NOT EXISTS (SELECT 1 FROM oidc_models s WHERE s.model = 'Session' AND s.uid = b.uid);

-- Passkey challenges are bound to an interaction or session id: the binding is stored as its digest.
UPDATE webauthn_challenges SET binding = oauth3_digest('WebAuthnBinding', binding);

-- Rows a replica of the previous version still writes during a rolling upgrade, in the old form (`jti` in the payload):
-- the periodic cleanup finds them here and digests them too (adapters/postgres.ts digestEarlierRows).
CREATE INDEX oidc_models_undigested ON oidc_models (model) WHERE model <> 'Grant' AND payload ? 'jti';
