-- Where a trace's forward passes ran: "cpu" or "webgpu (adapter name)".

-- AlterTable
ALTER TABLE "traces" ADD COLUMN "device" TEXT;
