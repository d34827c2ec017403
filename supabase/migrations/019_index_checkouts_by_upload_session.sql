-- Every foreign key has an index whose leading column is the key (tests/schema checks it):
-- checkouts are looked up by their upload session, and a session's row lock or delete
-- must not scan the whole table.
create index if not exists checkouts_upload_session_id_idx on public.checkouts (upload_session_id);
