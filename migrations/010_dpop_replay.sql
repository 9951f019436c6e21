-- DPoP proofs already accepted by the resource API (RFC 9449 §11.1), so a captured proof is refused when sent again,
-- by this replica or any other. Used when Redis is not configured (with Redis, the same entries live there). A row
-- outlives the window in which its proof's `iat` is accepted; expired rows are swept with the other expired rows.
CREATE TABLE dpop_replay (
  id          text        PRIMARY KEY,           -- base64url SHA-256 of the proof key's thumbprint and the proof's jti
  expires_at  timestamptz NOT NULL
);
CREATE INDEX dpop_replay_expires ON dpop_replay (expires_at);
