-- Foreign keys: PostgreSQL indexes the referenced side only. Without these, every
-- lookup by order and every RESTRICT check on delete scans the whole table.
create index orders_customer_id_idx on public.orders (customer_id);
create index orders_upload_session_id_idx on public.orders (upload_session_id);
create index orders_created_at_idx on public.orders (created_at);
create index images_order_id_idx on public.images (order_id, type);
create index images_source_image_id_idx on public.images (source_image_id);
create index restoration_jobs_order_id_idx on public.restoration_jobs (order_id);
create index restoration_jobs_image_id_idx on public.restoration_jobs (image_id);
create index restoration_jobs_restored_image_id_idx on public.restoration_jobs (restored_image_id);
create index email_queue_order_id_idx on public.email_queue (order_id);
create index file_uploads_upload_session_id_idx on public.file_uploads (upload_session_id);
create index file_uploads_order_id_idx on public.file_uploads (order_id);
create index download_links_order_id_idx on public.download_links (order_id);
create index download_links_image_id_idx on public.download_links (image_id);
create index audit_logs_entity_idx on public.audit_logs (entity_type, entity_id, created_at);

-- Claimable work. Partial indexes hold only the rows a worker may take, so the claim
-- stays fast however many finished rows pile up behind it.
create index restoration_jobs_claimable_idx
    on public.restoration_jobs (run_after) where status = 'pending';
create index restoration_jobs_lease_idx
    on public.restoration_jobs (locked_until) where status = 'running';
create index email_queue_claimable_idx
    on public.email_queue (run_after) where status = 'pending';
create index email_queue_lease_idx
    on public.email_queue (locked_until) where status = 'sending';

-- Cleanup looks for temporary uploads nobody claimed, oldest first.
create index file_uploads_expirable_idx
    on public.file_uploads (expires_at) where status in ('pending', 'uploaded');
