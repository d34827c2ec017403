-- name: create_upload_session
insert into public.upload_sessions (id, expires_at)
values (%(id)s, now() + make_interval(hours => %(ttl_hours)s))
returning *;

-- name: upload_session_by_id
select * from public.upload_sessions where id = %(upload_session_id)s;

-- name: lock_upload_session
select * from public.upload_sessions where id = %(upload_session_id)s for update;

-- name: reserve_photo_slots
-- The only way photos enter a session: succeeds for an open, unexpired session with room
-- for all of them, and returns nothing otherwise (the caller then says why).
update public.upload_sessions
set photo_count = photo_count + %(count)s
where id = %(upload_session_id)s
  and status = 'open'
  and expires_at > now()
  and photo_count + %(count)s <= %(max_files)s
returning *;

-- name: release_photo_slot
update public.upload_sessions
set photo_count = photo_count - 1
where id = %(upload_session_id)s and photo_count > 0;

-- name: insert_file_upload
-- clock_timestamp(), not now(): photos sent together keep the order they were sent in.
insert into public.file_uploads (
    id, upload_session_id, storage_path, filename, content_type, size_bytes, sha256,
    width, height, status, expires_at, created_at
)
select %(id)s, s.id, %(storage_path)s, %(filename)s, %(content_type)s, %(size_bytes)s, %(sha256)s,
       %(width)s, %(height)s, %(status)s, s.expires_at, clock_timestamp()
from public.upload_sessions s
where s.id = %(upload_session_id)s
returning *;

-- name: photos_in_session
select * from public.file_uploads
where upload_session_id = %(upload_session_id)s and status in ('pending', 'uploaded', 'claimed')
order by upload_position;

-- name: photo_in_session
select * from public.file_uploads
where upload_session_id = %(upload_session_id)s and id = %(file_id)s
  and status in ('pending', 'uploaded', 'claimed');

-- name: lock_direct_upload
-- Held while the upload is moved out of reach of its signed URL and checked: two
-- completions of one photo must not each move and check different bytes. SKIP LOCKED:
-- the second does not wait on the first's decode; it is told the check is under way.
select f.*
from public.file_uploads f
where f.id = %(file_id)s
for update skip locked;

-- name: direct_upload_by_id
select * from public.file_uploads where id = %(file_id)s;

-- name: remove_photo
-- Removed before checkout: the row stays (status deleted) as the record of what happened.
update public.file_uploads
set status = 'deleted'
where id = %(file_id)s and status in ('pending', 'uploaded')
returning *;

-- name: complete_direct_upload
update public.file_uploads
set status = 'uploaded',
    content_type = %(content_type)s,
    sha256 = %(sha256)s,
    width = %(width)s,
    height = %(height)s
where id = %(file_id)s and status = 'pending'
returning *;

-- name: photos_ready_for_checkout
select * from public.file_uploads
where upload_session_id = %(upload_session_id)s and status = 'uploaded'
order by upload_position;
