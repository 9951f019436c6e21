-- The resource API's lookup of the bearer tokens presented to it, as a function whose plan each connection keeps once
-- oidc_models is large, as the finds of migration 020 (docs/architecture.md#storage).
--
-- Sent as a prepared statement, Postgres kept a plan for it after five calls, made on whatever the table held then: on
-- a new deployment's few rows (once analyzed), a sequential scan of oidc_models, which it kept as the table grew (with
-- 50 000 tokens, 1 163 pages and 19 ms a call) until the table was analyzed again. Planned at every call instead, the
-- lookup, which joins nine tables, costs about 1 ms of planning. So: planned for its values below 1 MB, one plan kept
-- from then on, and sequential, bitmap, hash and merge plans disabled, so that every table joined is read by its key
-- whatever its size. The keys and the two models a bearer value may be are joined to the table rather than given as
-- conditions (OFFSET 0 keeps the pairs together), and the grants and the policy are looked up in subqueries of their
-- own (LIMIT 1: one row by its whole key), each run with the key it is given, so that no plan can read a model's rows
-- and filter them by key.
--
-- For each key: the token (an access token, or a client-credentials token, whose digests share a domain), its live
-- grant, its owner's account, for an agent service's token the service's owner, grant and client, for an exchanged
-- token its chain and whether every grant above it still exists, the grant's policy and the owner's connections.
CREATE FUNCTION oauth3_find_bearer_tokens(p_ids text[])
RETURNS TABLE (id text, model text, token jsonb, "grant" jsonb, account_found boolean, disabled boolean,
               service_account text, service_grant text, service_enabled boolean, root_grant text, parent_grant text,
               parent_client text, act jsonb, ancestors_live boolean, policy jsonb, connections json)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_custom_plan
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
#variable_conflict use_column
DECLARE
  -- A parameter, not a constant, in the plan kept: a constant would let it scan the grants' partial index, which
  -- holds every grant and not its key (see migration 020).
  grant_model text := 'Grant';
BEGIN
  PERFORM oauth3_plans_for_size();
  RETURN QUERY
    SELECT t.id, t.model, t.payload, g.payload,
           a.id IS NOT NULL, a.disabled_at IS NOT NULL,
           s.account_id, s.grant_id, sc.disabled_at IS NULL,
           d.root_grant_id, d.parent_grant_id, d.parent_client_id, d.act,
           (d.grant_id IS NULL OR (SELECT count(*) FROM unnest(d.ancestors) AS an(id)
                                     CROSS JOIN LATERAL (
                                       SELECT 1 FROM oidc_models ag
                                       WHERE ag.model = grant_model AND ag.id = an.id
                                         AND (ag.expires_at IS NULL OR ag.expires_at > now())
                                       LIMIT 1) ag) = cardinality(d.ancestors)),
           p.policy,
           (SELECT json_agg(c) FROM connections c WHERE c.account_id = a.id)
    FROM (SELECT bearer.model, presented.id FROM unnest(p_ids) AS presented(id)
            CROSS JOIN (VALUES ('AccessToken'), ('ClientCredentials')) AS bearer(model) OFFSET 0) AS k
      JOIN oidc_models t ON t.model = k.model AND t.id = k.id
      LEFT JOIN agent_services s ON t.model = 'ClientCredentials' AND s.client_id = t.payload->>'clientId'
      LEFT JOIN clients sc ON sc.client_id = s.client_id
      LEFT JOIN LATERAL (
        SELECT g.payload FROM oidc_models g
        WHERE g.model = grant_model AND g.id = COALESCE(s.grant_id, t.payload->>'grantId')
          AND (g.expires_at IS NULL OR g.expires_at > now())
        LIMIT 1) g ON true
      LEFT JOIN accounts a ON a.id = COALESCE(s.account_id, t.payload->>'accountId')
      LEFT JOIN grant_delegations d ON t.model = 'AccessToken' AND d.grant_id = t.payload->>'grantId'
      LEFT JOIN LATERAL (
        SELECT p.policy FROM grant_policies p
        WHERE p.grant_id = COALESCE(s.grant_id, d.root_grant_id, t.payload->>'grantId') AND p.account_id = a.id
        LIMIT 1) p ON true
    WHERE t.expires_at IS NULL OR t.expires_at > now();
END $$;
