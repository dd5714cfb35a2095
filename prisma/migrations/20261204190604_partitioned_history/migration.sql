-- The tables that grow with time become natively partitioned on their time
-- column, so retention drops whole partitions instead of deleting rows:
--   CounterSample, CounterNodeSample: by day on "at";
--   CounterRollup: by resolution, then minutes by day and hours by month on "bucket";
--   HealthTransition: by month on "at"; AuditEvent: by month on "createdAt".
-- Primary keys must include the partition key, so the id-keyed tables get
-- (id, time) keys. Each table also gets a DEFAULT partition for rows outside
-- the ranges created so far (old rows; retention deletes from it by row).
-- The panel creates the partitions ahead of time (packages/gateway/src/partitions.ts);
-- this migration creates those the existing rows need, and today's and the next days'.
-- CounterSample rows get "batch", the replica's flush that wrote them (the live
-- stream's cursor): existing rows are old and count as one batch 0.

-- Frees the old tables' constraint and index names for the new tables.
ALTER TABLE "CounterSample" RENAME TO "CounterSample_old";
ALTER TABLE "CounterSample_old" RENAME CONSTRAINT "CounterSample_pkey" TO "CounterSample_old_pkey";
ALTER SEQUENCE "CounterSample_id_seq" RENAME TO "CounterSample_old_id_seq";
DROP INDEX "CounterSample_organizationId_at_idx";
DROP INDEX "CounterSample_at_idx";

ALTER TABLE "CounterNodeSample" RENAME TO "CounterNodeSample_old";
ALTER TABLE "CounterNodeSample_old" RENAME CONSTRAINT "CounterNodeSample_pkey" TO "CounterNodeSample_old_pkey";
DROP INDEX "CounterNodeSample_organizationId_at_idx";
DROP INDEX "CounterNodeSample_at_idx";

ALTER TABLE "CounterRollup" RENAME TO "CounterRollup_old";
ALTER TABLE "CounterRollup_old" RENAME CONSTRAINT "CounterRollup_pkey" TO "CounterRollup_old_pkey";
DROP INDEX "CounterRollup_resolution_bucket_idx";

ALTER TABLE "HealthTransition" RENAME TO "HealthTransition_old";
ALTER TABLE "HealthTransition_old" RENAME CONSTRAINT "HealthTransition_pkey" TO "HealthTransition_old_pkey";
ALTER SEQUENCE "HealthTransition_id_seq" RENAME TO "HealthTransition_old_id_seq";
DROP INDEX "HealthTransition_organizationId_backendId_at_idx";
DROP INDEX "HealthTransition_at_idx";

ALTER TABLE "AuditEvent" RENAME TO "AuditEvent_old";
ALTER TABLE "AuditEvent_old" RENAME CONSTRAINT "AuditEvent_pkey" TO "AuditEvent_old_pkey";
ALTER TABLE "AuditEvent_old" DROP CONSTRAINT "AuditEvent_organizationId_fkey";
ALTER TABLE "AuditEvent_old" DROP CONSTRAINT "AuditEvent_serviceRevisionId_fkey";
DROP INDEX "AuditEvent_organizationId_createdAt_idx";
DROP INDEX "AuditEvent_organizationId_targetType_targetId_createdAt_idx";
DROP INDEX "AuditEvent_organizationId_actorUserId_createdAt_idx";
DROP INDEX "AuditEvent_serviceRevisionId_idx";
DROP INDEX "AuditEvent_createdAt_idx";

CREATE TABLE "CounterSample" (
    "id" BIGSERIAL NOT NULL,
    "organizationId" TEXT NOT NULL,
    "replica" TEXT NOT NULL,
    "batch" BIGINT NOT NULL,
    "kind" "SeriesKind" NOT NULL,
    "seriesKey" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "packets" BIGINT NOT NULL DEFAULT 0,
    "bytes" BIGINT NOT NULL DEFAULT 0,
    "newFlows" BIGINT NOT NULL DEFAULT 0,
    "drops" BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT "CounterSample_pkey" PRIMARY KEY ("id", "at")
) PARTITION BY RANGE ("at");
CREATE INDEX "CounterSample_organizationId_at_idx" ON "CounterSample"("organizationId", "at");
CREATE INDEX "CounterSample_organizationId_batch_idx" ON "CounterSample"("organizationId", "batch");
CREATE INDEX "CounterSample_at_idx" ON "CounterSample"("at");

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
) PARTITION BY RANGE ("at");
CREATE INDEX "CounterNodeSample_organizationId_at_idx" ON "CounterNodeSample"("organizationId", "at");
CREATE INDEX "CounterNodeSample_at_idx" ON "CounterNodeSample"("at");

CREATE TABLE "CounterRollup" (
    "organizationId" TEXT NOT NULL,
    "resolution" "RollupResolution" NOT NULL,
    "bucket" TIMESTAMP(3) NOT NULL,
    "replica" TEXT NOT NULL,
    "kind" "SeriesKind" NOT NULL,
    "seriesKey" TEXT NOT NULL,
    "packets" BIGINT NOT NULL DEFAULT 0,
    "bytes" BIGINT NOT NULL DEFAULT 0,
    "newFlows" BIGINT NOT NULL DEFAULT 0,
    "drops" BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT "CounterRollup_pkey" PRIMARY KEY ("organizationId","resolution","bucket","replica","kind","seriesKey")
) PARTITION BY LIST ("resolution");
CREATE INDEX "CounterRollup_resolution_bucket_idx" ON "CounterRollup"("resolution", "bucket");
CREATE TABLE "CounterRollup_minute" PARTITION OF "CounterRollup" FOR VALUES IN ('minute') PARTITION BY RANGE ("bucket");
CREATE TABLE "CounterRollup_hour" PARTITION OF "CounterRollup" FOR VALUES IN ('hour') PARTITION BY RANGE ("bucket");

CREATE TABLE "HealthTransition" (
    "id" BIGSERIAL NOT NULL,
    "organizationId" TEXT NOT NULL,
    "nodeId" TEXT NOT NULL,
    "backendId" TEXT NOT NULL,
    "healthy" BOOLEAN NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "HealthTransition_pkey" PRIMARY KEY ("id", "at")
) PARTITION BY RANGE ("at");
CREATE INDEX "HealthTransition_organizationId_backendId_at_idx" ON "HealthTransition"("organizationId", "backendId", "at");
CREATE INDEX "HealthTransition_at_idx" ON "HealthTransition"("at");

CREATE TABLE "AuditEvent" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "actorUserId" TEXT,
    "actorTokenId" TEXT,
    "actorLabel" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "targetType" TEXT NOT NULL,
    "targetId" TEXT,
    "data" JSONB NOT NULL DEFAULT '{}',
    "serviceRevisionId" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "AuditEvent_pkey" PRIMARY KEY ("id", "createdAt")
) PARTITION BY RANGE ("createdAt");
CREATE INDEX "AuditEvent_organizationId_createdAt_idx" ON "AuditEvent"("organizationId", "createdAt");
CREATE INDEX "AuditEvent_organizationId_targetType_targetId_createdAt_idx" ON "AuditEvent"("organizationId", "targetType", "targetId", "createdAt");
CREATE INDEX "AuditEvent_organizationId_actorUserId_createdAt_idx" ON "AuditEvent"("organizationId", "actorUserId", "createdAt");
CREATE INDEX "AuditEvent_serviceRevisionId_idx" ON "AuditEvent"("serviceRevisionId");
CREATE INDEX "AuditEvent_createdAt_idx" ON "AuditEvent"("createdAt");
ALTER TABLE "AuditEvent" ADD CONSTRAINT "AuditEvent_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "AuditEvent" ADD CONSTRAINT "AuditEvent_serviceRevisionId_fkey" FOREIGN KEY ("serviceRevisionId") REFERENCES "ServiceRevision"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- Range partitions from the oldest existing row to two days (months) ahead, and a default each.
DO $$
DECLARE
  spec RECORD;
  first TIMESTAMP(3);
  b TIMESTAMP(3);
BEGIN
  FOR spec IN SELECT * FROM (VALUES
      ('CounterSample', 'CounterSample_old', 'at', 'day', ''),
      ('CounterNodeSample', 'CounterNodeSample_old', 'at', 'day', ''),
      ('CounterRollup_minute', 'CounterRollup_old', 'bucket', 'day', 'WHERE resolution = ''minute'''),
      ('CounterRollup_hour', 'CounterRollup_old', 'bucket', 'month', 'WHERE resolution = ''hour'''),
      ('HealthTransition', 'HealthTransition_old', 'at', 'month', ''),
      ('AuditEvent', 'AuditEvent_old', 'createdAt', 'month', '')
    ) AS t(parent, old, col, width, cond)
  LOOP
    EXECUTE format('SELECT min(%I) FROM %I %s', spec.col, spec.old, spec.cond) INTO first;
    b := date_trunc(spec.width, least(coalesce(first, now()::timestamp), now()::timestamp));
    WHILE b < date_trunc(spec.width, now()::timestamp) + ('2 ' || spec.width)::interval LOOP
      EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
        spec.parent || '_p' || to_char(b, CASE spec.width WHEN 'day' THEN 'YYYYMMDD' ELSE 'YYYYMM' END),
        spec.parent, b, b + ('1 ' || spec.width)::interval);
      b := b + ('1 ' || spec.width)::interval;
    END LOOP;
    EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', spec.parent || '_default', spec.parent);
  END LOOP;
END $$;

INSERT INTO "CounterSample" ("id", "organizationId", "replica", "batch", "kind", "seriesKey", "at", "packets", "bytes", "newFlows", "drops")
SELECT "id", "organizationId", "replica", 0, "kind", "seriesKey", "at", "packets", "bytes", "newFlows", "drops" FROM "CounterSample_old";
SELECT setval(pg_get_serial_sequence('"CounterSample"', 'id'), coalesce((SELECT max("id") FROM "CounterSample_old"), 0) + 1, false);
INSERT INTO "CounterNodeSample" SELECT * FROM "CounterNodeSample_old";
INSERT INTO "CounterRollup" ("organizationId", "resolution", "bucket", "replica", "kind", "seriesKey", "packets", "bytes", "newFlows", "drops")
SELECT "organizationId", "resolution", "bucket", "replica", "kind", "seriesKey", "packets", "bytes", "newFlows", "drops" FROM "CounterRollup_old";
INSERT INTO "HealthTransition" ("id", "organizationId", "nodeId", "backendId", "healthy", "at")
SELECT "id", "organizationId", "nodeId", "backendId", "healthy", "at" FROM "HealthTransition_old";
SELECT setval(pg_get_serial_sequence('"HealthTransition"', 'id'), coalesce((SELECT max("id") FROM "HealthTransition_old"), 0) + 1, false);
INSERT INTO "AuditEvent" ("id", "organizationId", "actorUserId", "actorTokenId", "actorLabel", "action", "targetType", "targetId", "data", "serviceRevisionId", "createdAt")
SELECT "id", "organizationId", "actorUserId", "actorTokenId", "actorLabel", "action", "targetType", "targetId", "data", "serviceRevisionId", "createdAt" FROM "AuditEvent_old";

DROP TABLE "CounterSample_old";
DROP TABLE "CounterNodeSample_old";
DROP TABLE "CounterRollup_old";
DROP TABLE "HealthTransition_old";
DROP TABLE "AuditEvent_old";

-- Tenants read and write through the partitioned tables (partitions get no grant of their own).
GRANT SELECT, INSERT, UPDATE, DELETE ON "CounterSample", "CounterNodeSample", "CounterRollup", "HealthTransition", "AuditEvent" TO tula_tenant;
GRANT USAGE, SELECT ON SEQUENCE "CounterSample_id_seq", "HealthTransition_id_seq" TO tula_tenant;
ALTER TABLE "CounterSample" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "CounterNodeSample" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "CounterRollup" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "HealthTransition" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "AuditEvent" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "CounterSample" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));
CREATE POLICY tenant_isolation ON "CounterNodeSample" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));
CREATE POLICY tenant_isolation ON "CounterRollup" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));
CREATE POLICY tenant_isolation ON "HealthTransition" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));
CREATE POLICY tenant_isolation ON "AuditEvent" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));
