-- The finds of tokens by key and the writes that spend a token, as functions whose plans each connection keeps once
-- oidc_models is large (docs/architecture.md#storage).
--
-- Planning these statements cost Postgres more than running them: about 390 µs of a find with its grant and owner,
-- against some 130 µs of execution. A plan kept from when the table was small is not safe, though: made on a few rows,
-- it reads a model's whole key range or joins by scanning, and it keeps doing so as the table grows, since nothing
-- tells Postgres to plan again unless the table is analyzed. So each call looks at the table's size first: below
-- 1 MB (a few thousand tokens) every call is planned for its own values, as a statement sent alone would be; from
-- 1 MB on, the connection plans each statement once and keeps that plan. At that size a plan that reads more than the
-- rows asked for costs the planner hundreds of pages against a handful for a lookup by the whole primary key, so the
-- plan kept is the lookup, and it stays the cheapest as the table grows. The tables joined beside it (an owner's
-- account, possibly a few rows) are read by their primary key too, whatever their size: the functions run with
-- sequential, bitmap, hash and merge plans disabled, which leaves nested loops over index lookups. The functions run
-- with the caller's privileges and search_path, as the statements sent before them did.

-- Called first by each function below: how its statements are planned in this call, from oidc_models' size. The
-- setting lasts until the calling function returns (its own SET clause restores it).
CREATE FUNCTION oauth3_plans_for_size() RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  PERFORM set_config('plan_cache_mode',
    CASE WHEN pg_relation_size('oidc_models') >= 1048576 THEN 'force_generic_plan' ELSE 'force_custom_plan' END, true);
END $$;

-- Entries by model and key, live (unexpired) ones only, with what a caller reads ahead beside them: the live grant an
-- entry names, its owner's accounts row, and the first live session it ends with.
CREATE FUNCTION oauth3_find_models(p_models text[], p_ids text[],
                                   p_grants boolean, p_owners boolean, p_sessions boolean)
RETURNS TABLE (model text, id text, payload text, consumed_at timestamptz, "grant" text, grant_consumed_at timestamptz,
               owner text, session_id text, session text, session_consumed_at timestamptz)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_custom_plan
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
#variable_conflict use_column
DECLARE
  -- Parameters, not constants, in the plan kept: with a constant model it could scan a partial index that holds
  -- every grant (oidc_models_grant_owner_client) and filter it by key, the cheapest plan while there are few grants.
  grant_model text := 'Grant';
  session_model text := 'Session';
BEGIN
  PERFORM oauth3_plans_for_size();
  IF NOT p_grants THEN
    RETURN QUERY
      SELECT m.model, m.id, m.payload::text, m.consumed_at,
             NULL::text, NULL::timestamptz, NULL::text, NULL::text, NULL::text, NULL::timestamptz
      FROM unnest(p_models, p_ids) AS k(model, id)
        JOIN oidc_models m ON m.model = k.model AND m.id = k.id
      WHERE m.expires_at IS NULL OR m.expires_at > now();
  ELSE
    RETURN QUERY
      SELECT m.model, m.id, m.payload::text, m.consumed_at, g.payload::text, g.consumed_at,
             CASE WHEN p_owners
               THEN (SELECT row_to_json(a)::text FROM accounts a WHERE a.id = m.payload->>'accountId') END,
             s.id, s.payload::text, s.consumed_at
      FROM unnest(p_models, p_ids) AS k(model, id)
        JOIN oidc_models m ON m.model = k.model AND m.id = k.id
        LEFT JOIN oidc_models g ON g.model = grant_model AND g.id = m.grant_id
          AND (g.expires_at IS NULL OR g.expires_at > now())
        -- One session per uid, as a find by uid returns: the first live one.
        LEFT JOIN LATERAL (
          SELECT s.id, s.payload, s.consumed_at FROM oidc_models s
          WHERE p_sessions AND m.payload->>'expiresWithSession' = 'true' AND s.model = session_model
            AND s.uid = m.payload->>'sessionUid' AND (s.expires_at IS NULL OR s.expires_at > now())
          LIMIT 1) s ON true
      WHERE m.expires_at IS NULL OR m.expires_at > now();
  END IF;
END $$;

-- Spends the entries named by p_models and p_ids (each at most once, only while unused) and upserts the rows of p_rows
-- in the same statement: a row naming an entry it consumes (consumes_model, consumes_id) is stored only if that entry
-- was spent here. Returns the entries spent. Every part of one statement sees the table as it was before it, so the
-- rows test what was spent from the UPDATE's output, not from the table.
CREATE FUNCTION oauth3_write_models(p_models text[], p_ids text[], p_rows jsonb)
RETURNS TABLE (model text, id text)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_custom_plan
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
#variable_conflict use_column
BEGIN
  PERFORM oauth3_plans_for_size();
  RETURN QUERY
    WITH consumed AS (
      UPDATE oidc_models o SET consumed_at = now()
      FROM unnest(p_models, p_ids) AS c(model, id)
      WHERE o.model = c.model AND o.id = c.id AND o.consumed_at IS NULL
      RETURNING o.model, o.id
    ), stored AS (
      INSERT INTO oidc_models (model, id, payload, grant_id, user_code, uid, expires_at, consumed_at)
      SELECT r.model, r.id, r.payload, r.grant_id, r.user_code, r.uid,
             CASE WHEN r.expires_in IS NULL THEN NULL ELSE now() + make_interval(secs => r.expires_in) END, NULL
      FROM jsonb_to_recordset(p_rows)
        AS r(model text, id text, payload jsonb, grant_id text, user_code text, uid text, expires_in int,
             consumes_model text, consumes_id text)
      WHERE r.consumes_id IS NULL
        OR EXISTS (SELECT 1 FROM consumed c WHERE c.model = r.consumes_model AND c.id = r.consumes_id)
      ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id,
        user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at
    )
    SELECT c.model, c.id FROM consumed c;
END $$;
