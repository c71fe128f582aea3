-- Queued capture (lib/jobs): a trace is one attempt of a pg-boss job; a job never has two complete traces.
ALTER TABLE "traces" ADD COLUMN "job_id" TEXT;

CREATE INDEX "traces_job_id_idx" ON "traces"("job_id");

CREATE UNIQUE INDEX "traces_one_complete_per_job" ON "traces"("job_id") WHERE "status" = 'complete' AND "job_id" IS NOT NULL;

CREATE TABLE "workers" (
    "id" TEXT NOT NULL,
    "host" TEXT NOT NULL,
    "pid" INTEGER NOT NULL,
    "model" TEXT NOT NULL,
    "device" TEXT NOT NULL,
    "concurrency" INTEGER NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "heartbeat_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "stopped_at" TIMESTAMPTZ(3),
    "jobs_done" INTEGER NOT NULL DEFAULT 0,
    "jobs_failed" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "workers_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "workers_heartbeat_at_idx" ON "workers"("heartbeat_at");
