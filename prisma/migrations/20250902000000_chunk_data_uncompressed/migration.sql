-- Capture blobs are already packed (u8 ids, f16 weights): pglz tried to compress every blob on
-- insert, failed (stored size == length, measured) and cost ~60% of ingest time. EXTERNAL keeps
-- out-of-line TOAST storage without the compression attempt. Applies to rows written from now on.
ALTER TABLE "trace_chunks" ALTER COLUMN "data" SET STORAGE EXTERNAL;
