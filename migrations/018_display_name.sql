-- The name an owner goes by in oauth3's pages ("Signed in as Ada"): optional, at most 64 characters, asked at sign-up
-- and changed on the profile page. Unlike the username it need not be unique; nothing else is derived from it.
ALTER TABLE accounts ADD COLUMN display_name text;
