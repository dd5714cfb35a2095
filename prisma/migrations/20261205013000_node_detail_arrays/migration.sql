-- Per-node 10 s detail in arrays: one row per (organisation, series, bucket,
-- replica, flush) holding every node's part (nodeIds[i] counted packets[i]...),
-- instead of one row per node, series and bucket. Rows written then grow with
-- series, not with agents (issue 17's benchmark). Readers unnest and add every
-- row. Existing rows are regrouped into one row per series and bucket (replica
-- 'migrated', batch 0); the table keeps its partitions, grants and policy.
CREATE TEMP TABLE "node_detail" ON COMMIT DROP AS
SELECT "organizationId", "kind", "seriesKey", "at",
       array_agg("nodeId" ORDER BY "nodeId") AS "nodeIds",
       array_agg("packets" ORDER BY "nodeId") AS "packets",
       array_agg("bytes" ORDER BY "nodeId") AS "bytes",
       array_agg("newFlows" ORDER BY "nodeId") AS "newFlows",
       array_agg("drops" ORDER BY "nodeId") AS "drops"
FROM "CounterNodeSample"
GROUP BY "organizationId", "kind", "seriesKey", "at";

TRUNCATE "CounterNodeSample";

-- DropIndex
DROP INDEX "CounterNodeSample_organizationId_at_idx";

-- AlterTable
ALTER TABLE "CounterNodeSample" DROP CONSTRAINT "CounterNodeSample_pkey",
DROP COLUMN "nodeId",
ADD COLUMN     "batch" BIGINT NOT NULL,
ADD COLUMN     "nodeIds" TEXT[],
ADD COLUMN     "replica" TEXT NOT NULL,
DROP COLUMN "packets",
ADD COLUMN     "packets" BIGINT[],
DROP COLUMN "bytes",
ADD COLUMN     "bytes" BIGINT[],
DROP COLUMN "newFlows",
ADD COLUMN     "newFlows" BIGINT[],
DROP COLUMN "drops",
ADD COLUMN     "drops" BIGINT[],
ADD CONSTRAINT "CounterNodeSample_pkey" PRIMARY KEY ("organizationId", "kind", "seriesKey", "at", "replica", "batch");

INSERT INTO "CounterNodeSample" ("organizationId", "replica", "batch", "kind", "seriesKey", "at", "nodeIds", "packets", "bytes", "newFlows", "drops")
SELECT "organizationId", 'migrated', 0, "kind", "seriesKey", "at", "nodeIds", "packets", "bytes", "newFlows", "drops" FROM "node_detail";
