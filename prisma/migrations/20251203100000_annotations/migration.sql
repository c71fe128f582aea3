-- Safety review: span annotations with history, verdicts, review queues, soft delete.

-- AlterTable
ALTER TABLE "traces" ADD COLUMN "deleted_at" TIMESTAMPTZ(3),
ADD COLUMN "deleted_by" TEXT;

-- AlterTable
ALTER TABLE "collections" ADD COLUMN "taxonomy" JSONB,
ADD COLUMN "overlap" INTEGER NOT NULL DEFAULT 1,
ADD COLUMN "blind" BOOLEAN NOT NULL DEFAULT false;

-- CreateEnum
CREATE TYPE "VerdictValue" AS ENUM ('safe', 'unsafe', 'unsure');

-- CreateTable
CREATE TABLE "annotations" (
    "id" TEXT NOT NULL,
    "trace_id" TEXT NOT NULL,
    "message_index" INTEGER NOT NULL,
    "token_start" INTEGER NOT NULL,
    "token_end" INTEGER NOT NULL,
    "char_start" INTEGER NOT NULL,
    "char_end" INTEGER NOT NULL,
    "text" TEXT NOT NULL,
    "label" TEXT NOT NULL,
    "severity" INTEGER NOT NULL,
    "note" TEXT,
    "annotator" TEXT NOT NULL,
    "kind" TEXT NOT NULL DEFAULT 'human',
    "review_state" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deleted_at" TIMESTAMPTZ(3),

    CONSTRAINT "annotations_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "annotations_span_check" CHECK ("token_start" < "token_end" AND "char_start" < "char_end"),
    CONSTRAINT "annotations_severity_check" CHECK ("severity" BETWEEN 1 AND 4),
    CONSTRAINT "annotations_kind_check" CHECK ("kind" IN ('human', 'model', 'rule'))
);

-- CreateTable
CREATE TABLE "annotation_revisions" (
    "id" BIGSERIAL NOT NULL,
    "annotation_id" TEXT NOT NULL,
    "revision" INTEGER NOT NULL,
    "action" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "snapshot" JSONB NOT NULL,

    CONSTRAINT "annotation_revisions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "verdicts" (
    "trace_id" TEXT NOT NULL,
    "annotator" TEXT NOT NULL,
    "verdict" "VerdictValue" NOT NULL,
    "rationale" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "verdicts_pkey" PRIMARY KEY ("trace_id","annotator")
);

-- CreateTable
CREATE TABLE "review_assignments" (
    "collection_id" TEXT NOT NULL,
    "trace_id" TEXT NOT NULL,
    "annotator" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "assigned_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "review_assignments_pkey" PRIMARY KEY ("collection_id","trace_id","annotator"),
    CONSTRAINT "review_assignments_state_check" CHECK ("state" IN ('assigned', 'submitted', 'skipped'))
);

-- CreateIndex
CREATE INDEX "annotations_trace_id_idx" ON "annotations"("trace_id");
CREATE INDEX "annotations_annotator_idx" ON "annotations"("annotator");
CREATE INDEX "annotations_label_idx" ON "annotations"("label");
CREATE UNIQUE INDEX "annotation_revisions_annotation_id_revision_key" ON "annotation_revisions"("annotation_id", "revision");
CREATE INDEX "verdicts_annotator_idx" ON "verdicts"("annotator");
CREATE INDEX "review_assignments_collection_id_annotator_state_idx" ON "review_assignments"("collection_id", "annotator", "state");
CREATE INDEX "traces_deleted_at_idx" ON "traces"("deleted_at") WHERE "deleted_at" IS NOT NULL;

-- AddForeignKey
ALTER TABLE "annotations" ADD CONSTRAINT "annotations_trace_id_fkey" FOREIGN KEY ("trace_id") REFERENCES "traces"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "annotation_revisions" ADD CONSTRAINT "annotation_revisions_annotation_id_fkey" FOREIGN KEY ("annotation_id") REFERENCES "annotations"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "verdicts" ADD CONSTRAINT "verdicts_trace_id_fkey" FOREIGN KEY ("trace_id") REFERENCES "traces"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "review_assignments" ADD CONSTRAINT "review_assignments_collection_id_fkey" FOREIGN KEY ("collection_id") REFERENCES "collections"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "review_assignments" ADD CONSTRAINT "review_assignments_trace_id_fkey" FOREIGN KEY ("trace_id") REFERENCES "traces"("id") ON DELETE CASCADE ON UPDATE CASCADE;
