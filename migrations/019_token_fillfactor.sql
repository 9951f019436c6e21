-- Leave three tenths of each new page of oidc_models free, so that marking a token consumed (a refresh token at its
-- refresh, a code at its redemption) can rewrite the row within its own page: a heap-only update, which writes no index
-- entry. With full pages four consumes in five wrote a new row version elsewhere and an entry in each of the table's
-- indexes.
ALTER TABLE oidc_models SET (fillfactor = 70);
