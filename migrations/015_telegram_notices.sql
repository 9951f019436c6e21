-- What oauth3's Telegram bot tells owners (docs/architecture.md#notices): an outbox the server writes to and a sender
-- drains at Telegram's pace, so a notice is never lost to a Telegram outage and never delays the request behind it.
CREATE TABLE telegram_outbox (
  id               bigserial   PRIMARY KEY,
  account_id       text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  chat_id          bigint      NOT NULL,
  -- The notice kind ('approval', 'new_access', …), or 'edit' for a change to a message sent earlier (edit_of).
  kind             text        NOT NULL,
  text             text        NOT NULL,
  -- An inline keyboard: rows of { text, data } buttons.
  buttons          jsonb,
  -- The held action an approval message shows, so its message can be edited once the action is decided.
  held_id          text,
  edit_of          bigint      REFERENCES telegram_outbox (id) ON DELETE CASCADE,
  -- A notice sent at most once (the daily limit: once per app and day).
  dedupe_key       text        UNIQUE,
  -- pending → sent, or failed (undelivered, shown in the console, retried on request), or cancelled.
  status           text        NOT NULL DEFAULT 'pending',
  attempts         integer     NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  -- A sender took the row until then; a sender that died gives it back by letting the lease run out.
  leased_until     timestamptz,
  last_error       text,
  message_id       bigint,
  created_at       timestamptz NOT NULL DEFAULT now(),
  sent_at          timestamptz
);
CREATE INDEX telegram_outbox_due ON telegram_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX telegram_outbox_chat ON telegram_outbox (chat_id, id);
CREATE INDEX telegram_outbox_account ON telegram_outbox (account_id, created_at);
CREATE INDEX telegram_outbox_held ON telegram_outbox (held_id) WHERE held_id IS NOT NULL;

-- The notices an owner switched off in the console; every kind is on until then.
CREATE TABLE notice_preferences (
  account_id  text        PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
  disabled    text[]      NOT NULL DEFAULT '{}',
  updated_at  timestamptz NOT NULL DEFAULT now()
);
