-- RFC 8628 §3.5: the polling interval of each pending device code, which grows by 5 seconds each time the device
-- polls too soon (slow_down). Keyed by the device code's SHA-256 digest, never the code itself; a row lives no longer
-- than the device code (DEVICE_CODE_TTL) and the cleanup deletes it after.
CREATE TABLE device_polls (
  key               text        PRIMARY KEY,
  interval_seconds  integer     NOT NULL,
  polled_at         timestamptz NOT NULL,
  slowed_at         timestamptz,
  expires_at        timestamptz NOT NULL
);
