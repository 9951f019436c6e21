-- The browsers each owner has signed in from, so a sign-in from any other one can be told to the owner
-- (docs/architecture.md#notices). A browser is known by a random id in a long-lived signed cookie; only the digest of
-- that id is stored (src/db/at-rest-keys.ts). A row not seen for 400 days (as long as a browser keeps a cookie) is removed.
CREATE TABLE known_browsers (
  account_id  text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  digest      text        NOT NULL,
  -- In words ("Firefox on Windows"), from the User-Agent when first seen; the full User-Agent is not kept.
  description text        NOT NULL,
  first_seen  timestamptz NOT NULL DEFAULT now(),
  last_seen   timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (account_id, digest)
);
CREATE INDEX known_browsers_expiry ON known_browsers (expires_at);

-- When an app's call was first refused for its daily limit that day: the owner is told once per app and day, and the
-- access log gets one "reached its daily limit" row however often the app keeps calling.
ALTER TABLE policy_usage ADD COLUMN refused_at timestamptz;
