-- CreateEnum
CREATE TYPE "TraceStatus" AS ENUM ('running', 'complete', 'failed', 'cancelled');

-- CreateTable
CREATE TABLE "models" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "config_hash" TEXT NOT NULL,
    "num_layers" INTEGER NOT NULL,
    "num_experts" INTEGER NOT NULL,
    "experts_per_token" INTEGER NOT NULL,
    "num_heads" INTEGER NOT NULL,
    "hidden_size" INTEGER NOT NULL,
    "vocab_size" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "models_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "traces" (
    "id" TEXT NOT NULL,
    "model_id" TEXT NOT NULL,
    "prompt_id" TEXT,
    "prompt" JSONB NOT NULL,
    "effort" TEXT,
    "sample_index" INTEGER NOT NULL DEFAULT 0,
    "temperature" DOUBLE PRECISION NOT NULL,
    "top_p" DOUBLE PRECISION NOT NULL,
    "seed" BIGINT NOT NULL,
    "max_new_tokens" INTEGER NOT NULL,
    "status" "TraceStatus" NOT NULL DEFAULT 'running',
    "error" TEXT,
    "stop_reason" TEXT,
    "prompt_tokens" INTEGER NOT NULL DEFAULT 0,
    "token_count" INTEGER NOT NULL DEFAULT 0,
    "prefill_ms" DOUBLE PRECISION,
    "decode_ms" DOUBLE PRECISION,
    "prefill_tps" DOUBLE PRECISION,
    "decode_tps" DOUBLE PRECISION,
    "owner_pid" INTEGER,
    "owner_host" TEXT,
    "heartbeat_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "traces_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "messages" (
    "trace_id" TEXT NOT NULL,
    "index" INTEGER NOT NULL,
    "role" TEXT NOT NULL,
    "channel" TEXT,
    "recipient" TEXT,
    "content_type" TEXT,
    "token_start" INTEGER NOT NULL,
    "token_end" INTEGER NOT NULL,
    "complete" BOOLEAN NOT NULL,
    "text" TEXT NOT NULL,
    "extra" JSONB,

    CONSTRAINT "messages_pkey" PRIMARY KEY ("trace_id","index")
);

-- CreateTable
CREATE TABLE "trace_chunks" (
    "trace_id" TEXT NOT NULL,
    "section" TEXT NOT NULL,
    "token_start" INTEGER NOT NULL,
    "token_end" INTEGER NOT NULL,
    "version" INTEGER NOT NULL,
    "byte_length" INTEGER NOT NULL,
    "sha256" TEXT NOT NULL,
    "data" BYTEA NOT NULL,

    CONSTRAINT "trace_chunks_pkey" PRIMARY KEY ("trace_id","section","token_start")
);

-- CreateTable
CREATE TABLE "expert_usage" (
    "trace_id" TEXT NOT NULL,
    "channel" TEXT NOT NULL,
    "layer" INTEGER NOT NULL,
    "expert" INTEGER NOT NULL,
    "count" INTEGER NOT NULL,
    "weight_sum" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "expert_usage_pkey" PRIMARY KEY ("trace_id","channel","layer","expert")
);

-- CreateTable
CREATE TABLE "collections" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "collections_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "collection_traces" (
    "collection_id" TEXT NOT NULL,
    "trace_id" TEXT NOT NULL,

    CONSTRAINT "collection_traces_pkey" PRIMARY KEY ("collection_id","trace_id")
);

-- CreateTable
CREATE TABLE "tags" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,

    CONSTRAINT "tags_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "trace_tags" (
    "trace_id" TEXT NOT NULL,
    "tag_id" TEXT NOT NULL,

    CONSTRAINT "trace_tags_pkey" PRIMARY KEY ("trace_id","tag_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "models_name_config_hash_key" ON "models"("name", "config_hash");

-- CreateIndex
CREATE INDEX "traces_created_at_id_idx" ON "traces"("created_at", "id");

-- CreateIndex
CREATE INDEX "traces_model_id_created_at_idx" ON "traces"("model_id", "created_at");

-- CreateIndex
CREATE INDEX "traces_status_idx" ON "traces"("status");

-- CreateIndex
CREATE INDEX "traces_prompt_id_effort_sample_index_idx" ON "traces"("prompt_id", "effort", "sample_index");

-- CreateIndex
CREATE INDEX "expert_usage_layer_expert_idx" ON "expert_usage"("layer", "expert");

-- CreateIndex
CREATE UNIQUE INDEX "collections_name_key" ON "collections"("name");

-- CreateIndex
CREATE INDEX "collection_traces_trace_id_idx" ON "collection_traces"("trace_id");

-- CreateIndex
CREATE UNIQUE INDEX "tags_name_key" ON "tags"("name");

-- CreateIndex
CREATE INDEX "trace_tags_tag_id_idx" ON "trace_tags"("tag_id");

-- AddForeignKey
ALTER TABLE "traces" ADD CONSTRAINT "traces_model_id_fkey" FOREIGN KEY ("model_id") REFERENCES "models"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "messages" ADD CONSTRAINT "messages_trace_id_fkey" FOREIGN KEY ("trace_id") REFERENCES "traces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "trace_chunks" ADD CONSTRAINT "trace_chunks_trace_id_fkey" FOREIGN KEY ("trace_id") REFERENCES "traces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "expert_usage" ADD CONSTRAINT "expert_usage_trace_id_fkey" FOREIGN KEY ("trace_id") REFERENCES "traces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "collection_traces" ADD CONSTRAINT "collection_traces_collection_id_fkey" FOREIGN KEY ("collection_id") REFERENCES "collections"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "collection_traces" ADD CONSTRAINT "collection_traces_trace_id_fkey" FOREIGN KEY ("trace_id") REFERENCES "traces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "trace_tags" ADD CONSTRAINT "trace_tags_trace_id_fkey" FOREIGN KEY ("trace_id") REFERENCES "traces"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "trace_tags" ADD CONSTRAINT "trace_tags_tag_id_fkey" FOREIGN KEY ("tag_id") REFERENCES "tags"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Hand-written (not expressible in schema.prisma) ---------------------------------------------

-- Full-text search over message text. The store only matches analysis (raw CoT) messages when
-- the caller asked for raw CoT; see lib/store/search.ts.
ALTER TABLE "messages" ADD COLUMN "search" tsvector GENERATED ALWAYS AS (to_tsvector('english', "text")) STORED;
CREATE INDEX "messages_search_idx" ON "messages" USING GIN ("search");

-- Capture blobs are already dense binary: skip TOAST compression (costs CPU, saves nothing).
ALTER TABLE "trace_chunks" ALTER COLUMN "data" SET STORAGE EXTERNAL;
