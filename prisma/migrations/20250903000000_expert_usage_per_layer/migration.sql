-- Expert usage becomes one row per (trace, channel, layer) holding every expert's count and
-- weight sum as arrays (element e = expert e): 32-128x fewer rows and index entries per trace.
ALTER TABLE "expert_usage" RENAME TO "expert_usage_by_expert";
ALTER TABLE "expert_usage_by_expert" RENAME CONSTRAINT "expert_usage_pkey" TO "expert_usage_by_expert_pkey";
ALTER TABLE "expert_usage_by_expert" RENAME CONSTRAINT "expert_usage_trace_id_fkey" TO "expert_usage_by_expert_trace_id_fkey";

CREATE TABLE "expert_usage" (
    "trace_id" TEXT NOT NULL,
    "channel" TEXT NOT NULL,
    "layer" INTEGER NOT NULL,
    "counts" INTEGER[] NOT NULL,
    "weight_sums" DOUBLE PRECISION[] NOT NULL,

    CONSTRAINT "expert_usage_pkey" PRIMARY KEY ("trace_id","channel","layer")
);

-- Existing rows: experts never chosen were not stored; they become zeros up to the model's expert count.
INSERT INTO "expert_usage" ("trace_id", "channel", "layer", "counts", "weight_sums")
SELECT g."trace_id", g."channel", g."layer",
       array_agg(COALESCE(u."count", 0) ORDER BY e.expert),
       array_agg(COALESCE(u."weight_sum", 0) ORDER BY e.expert)
  FROM (SELECT "trace_id", "channel", "layer", max("expert") AS max_expert
          FROM "expert_usage_by_expert" GROUP BY "trace_id", "channel", "layer") g
  JOIN "traces" t ON t."id" = g."trace_id"
  JOIN "models" m ON m."id" = t."model_id"
 CROSS JOIN LATERAL generate_series(0, GREATEST(m."num_experts" - 1, g.max_expert)) AS e(expert)
  LEFT JOIN "expert_usage_by_expert" u
         ON u."trace_id" = g."trace_id" AND u."channel" = g."channel" AND u."layer" = g."layer" AND u."expert" = e.expert
 GROUP BY g."trace_id", g."channel", g."layer";

DROP TABLE "expert_usage_by_expert";

CREATE INDEX "expert_usage_layer_channel_idx" ON "expert_usage"("layer", "channel");

ALTER TABLE "expert_usage" ADD CONSTRAINT "expert_usage_trace_id_fkey" FOREIGN KEY ("trace_id") REFERENCES "traces"("id") ON DELETE CASCADE ON UPDATE CASCADE;
