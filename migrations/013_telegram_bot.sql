-- oauth3's own Telegram bot (docs/architecture.md#oauth3s-telegram-bot).
-- Updates already taken by some replica, by Telegram's update_id, so a webhook retry or a second replica never acts
-- twice; the cleanup deletes a row once Telegram can no longer send that update again.
CREATE TABLE telegram_updates (
  update_id    bigint      PRIMARY KEY,
  received_at  timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL
);

-- One-time links from the console: only the SHA-256 digest of the nonce is kept; used_at burns it.
CREATE TABLE telegram_link_nonces (
  digest      text        PRIMARY KEY,
  account_id  text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz
);
CREATE INDEX telegram_link_nonces_expiry ON telegram_link_nonces (expires_at);

-- The private chat each owner linked: one per owner, and a chat belongs to one owner at most.
CREATE TABLE telegram_links (
  account_id  text        PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
  chat_id     bigint      NOT NULL UNIQUE,
  user_id     bigint      NOT NULL,
  username    text,
  first_name  text,
  linked_at   timestamptz NOT NULL DEFAULT now()
);
