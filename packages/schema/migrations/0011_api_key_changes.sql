-- API instances cache successful key lookups for a few seconds (one query per request otherwise).
-- Any change to a key row (revocation through the API, an operator's UPDATE or DELETE, a tenant's
-- removal) is announced on channel `fw_api_keys_changed`, and every listening API instance drops its
-- cached lookups at once; the cache's TTL bounds the rest (an instance whose LISTEN connection is down).
create function api_keys_changed() returns trigger language plpgsql as $$
begin
  perform pg_notify('fw_api_keys_changed', old.id);
  return null;
end
$$;

create trigger api_keys_changed after update or delete on api_keys
  for each row execute function api_keys_changed();
