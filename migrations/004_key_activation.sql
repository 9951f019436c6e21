-- Signing keys are published before they are used (threat model I3): a rotated key signs only from activates_at on.
ALTER TABLE keys ADD COLUMN activates_at timestamptz;
UPDATE keys SET activates_at = created_at;
ALTER TABLE keys ALTER COLUMN activates_at SET NOT NULL;
ALTER TABLE keys ALTER COLUMN activates_at SET DEFAULT now();
