-- Every change to a client or one of its secrets, by whatever statement (the portal, the CLI, dynamic registration,
-- a cascade from a deleted account), is announced on the `oauth3_clients` channel with the client's id. Each server
-- keeps the clients it looked up only while it is listening there (adapters/client-cache.ts), and drops one the
-- moment it changes, on every replica.
CREATE FUNCTION oauth3_client_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('oauth3_clients', OLD.client_id);
  ELSE
    PERFORM pg_notify('oauth3_clients', NEW.client_id);
    IF TG_OP = 'UPDATE' AND OLD.client_id IS DISTINCT FROM NEW.client_id THEN
      PERFORM pg_notify('oauth3_clients', OLD.client_id);
    END IF;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER clients_changed AFTER INSERT OR UPDATE OR DELETE ON clients
  FOR EACH ROW EXECUTE FUNCTION oauth3_client_changed();
CREATE TRIGGER client_secrets_changed AFTER INSERT OR UPDATE OR DELETE ON client_secrets
  FOR EACH ROW EXECUTE FUNCTION oauth3_client_changed();
