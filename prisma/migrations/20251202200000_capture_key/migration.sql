-- Batch capture resumes on a hash of the rendered prompt and the settings, not on the prompt id alone
-- (lib/trace/capture-key.ts). Traces stored before this have none: resume compares their stored prompt and sampling.
ALTER TABLE "traces" ADD COLUMN "capture_key" TEXT;
