-- What a trace's capture holds, recorded on the trace when it completes, so a section whose chunks
-- went missing is reported as corruption instead of loading as "not captured", and a viewer can
-- size its panels without reading any chunk.
ALTER TABLE "traces" ADD COLUMN "capture_sections" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[];
ALTER TABLE "traces" ADD COLUMN "attention_top_k" INTEGER;

-- Existing traces: the sections their chunks hold; top-k from the first attention chunk's header
-- (dims[2], a little-endian u32 at byte 24 of the chunk, lib/trace/codec.ts).
UPDATE "traces" t
   SET "capture_sections" = s.sections
  FROM (SELECT "trace_id", array_agg(DISTINCT "section" ORDER BY "section") AS sections FROM "trace_chunks" GROUP BY "trace_id") s
 WHERE s."trace_id" = t."id";
UPDATE "traces" t
   SET "attention_top_k" = get_byte(c."data", 24) + get_byte(c."data", 25) * 256
  FROM "trace_chunks" c
 WHERE c."trace_id" = t."id" AND c."section" = 'attention' AND c."token_start" = 0;
