-- Counter cursors in rows per flush (issue 17): instead of one upserted row per
-- node ("CounterCursor", one write per stored report, so rows written per second
-- grew with agents), each flush writes one row per organisation holding the
-- cursors (agent boot id, sequence) of every node it stored, in parallel arrays.
-- Partitioned by day on "at" like "CounterSample"; the panel creates partitions
-- ahead and, before dropping a day, carries each node's newest cursors into a new
-- row (packages/gateway/src/retention.ts). The old table's cursors are copied
-- into one row per organisation (replica 'migrated'), so an upgraded panel does
-- not count again the first resend of an agent whose cursor was stored there.

-- CreateTable
CREATE TABLE "CounterCursorBatch" (
    "organizationId" TEXT NOT NULL,
    "replica" TEXT NOT NULL,
    "batch" BIGINT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "nodeIds" TEXT[],
    "boots" TEXT[],
    "seqs" INTEGER[],

    CONSTRAINT "CounterCursorBatch_pkey" PRIMARY KEY ("organizationId","replica","batch","at")
) PARTITION BY RANGE ("at");

-- CreateIndex
CREATE INDEX "CounterCursorBatch_at_idx" ON "CounterCursorBatch"("at");

-- CreateIndex: finds the rows holding a node (a node new to a replica).
CREATE INDEX "CounterCursorBatch_nodeIds_idx" ON "CounterCursorBatch" USING GIN ("nodeIds");

-- Today's and the next days' partitions (the panel creates the later ones), and a default.
DO $$
DECLARE
  b TIMESTAMP(3) := date_trunc('day', now()::timestamp);
BEGIN
  WHILE b < date_trunc('day', now()::timestamp) + interval '3 day' LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF "CounterCursorBatch" FOR VALUES FROM (%L) TO (%L)',
      'CounterCursorBatch_p' || to_char(b, 'YYYYMMDD'), b, b + interval '1 day');
    b := b + interval '1 day';
  END LOOP;
END $$;
CREATE TABLE "CounterCursorBatch_default" PARTITION OF "CounterCursorBatch" DEFAULT;

INSERT INTO "CounterCursorBatch" ("organizationId", "replica", "batch", "at", "nodeIds", "boots", "seqs")
SELECT "organizationId", 'migrated', 0, now()::timestamp,
       array_agg("nodeId" ORDER BY "nodeId"), array_agg("boot" ORDER BY "nodeId"), array_agg("seq" ORDER BY "nodeId")
FROM "CounterCursor"
GROUP BY "organizationId";

-- DropTable (its foreign key, grant and policy go with it)
DROP TABLE "CounterCursor";

-- Tenants read and write through the partitioned table (partitions get no grant of their own).
GRANT SELECT, INSERT, UPDATE, DELETE ON "CounterCursorBatch" TO tula_tenant;
ALTER TABLE "CounterCursorBatch" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "CounterCursorBatch" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));
