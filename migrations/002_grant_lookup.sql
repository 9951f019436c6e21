-- Consent is remembered per owner and app, not per browser session: find an owner's grant for a client quickly.
CREATE INDEX oidc_models_grant_owner_client
  ON oidc_models ((payload->>'accountId'), (payload->>'clientId'))
  WHERE model = 'Grant';
