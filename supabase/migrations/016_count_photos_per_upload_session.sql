-- How many photos an upload session holds (uploaded, or announced for a direct upload).
-- Adding photos is one conditional UPDATE of this counter, so concurrent uploads to one
-- session can never pass UPLOAD_MAX_FILES between them.
alter table public.upload_sessions
    add column photo_count integer not null default 0,
    add constraint upload_sessions_photo_count_check check (photo_count >= 0);
