-- Raw counters become fleet-wide sums per panel replica; rows written before
-- this migration are kept as the sums of one replica named 'migrated'.
ALTER TABLE "CounterSample" ADD COLUMN "replica" TEXT NOT NULL DEFAULT 'migrated';
ALTER TABLE "CounterSample" ALTER COLUMN "replica" DROP DEFAULT;
ALTER TABLE "CounterSample" DROP COLUMN "nodeId";

-- Rollups: the per-node rows of each bucket fold into one row.
ALTER TABLE "CounterRollup" DROP CONSTRAINT "CounterRollup_pkey";
ALTER TABLE "CounterRollup" ADD COLUMN "replica" TEXT NOT NULL DEFAULT 'migrated';
WITH folded AS (DELETE FROM "CounterRollup" RETURNING *)
INSERT INTO "CounterRollup" ("organizationId", "resolution", "bucket", "nodeId", "replica", "kind", "seriesKey", "packets", "bytes", "newFlows", "drops")
SELECT "organizationId", "resolution", "bucket", '', 'migrated', "kind", "seriesKey", sum("packets"), sum("bytes"), sum("newFlows"), sum("drops")
  FROM folded GROUP BY "organizationId", "resolution", "bucket", "kind", "seriesKey";
ALTER TABLE "CounterRollup" DROP COLUMN "nodeId";
ALTER TABLE "CounterRollup" ALTER COLUMN "replica" DROP DEFAULT;
ALTER TABLE "CounterRollup" ADD CONSTRAINT "CounterRollup_pkey" PRIMARY KEY ("organizationId", "resolution", "bucket", "replica", "kind", "seriesKey");

-- CreateTable
CREATE TABLE "CounterNodeSample" (
    "organizationId" TEXT NOT NULL,
    "nodeId" TEXT NOT NULL,
    "kind" "SeriesKind" NOT NULL,
    "seriesKey" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "packets" BIGINT NOT NULL DEFAULT 0,
    "bytes" BIGINT NOT NULL DEFAULT 0,
    "newFlows" BIGINT NOT NULL DEFAULT 0,
    "drops" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "CounterNodeSample_pkey" PRIMARY KEY ("nodeId","kind","seriesKey","at")
);

-- CreateIndex
CREATE INDEX "CounterNodeSample_organizationId_at_idx" ON "CounterNodeSample"("organizationId", "at");

-- CreateIndex
CREATE INDEX "CounterNodeSample_at_idx" ON "CounterNodeSample"("at");

-- CreateIndex
CREATE INDEX "CounterRollup_resolution_bucket_idx" ON "CounterRollup"("resolution", "bucket");

-- CreateIndex
CREATE INDEX "HealthTransition_at_idx" ON "HealthTransition"("at");

-- CreateIndex
CREATE INDEX "AuditEvent_createdAt_idx" ON "AuditEvent"("createdAt");


GRANT SELECT, INSERT, UPDATE, DELETE ON "CounterNodeSample" TO tula_tenant;
ALTER TABLE "CounterNodeSample" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "CounterNodeSample" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));
