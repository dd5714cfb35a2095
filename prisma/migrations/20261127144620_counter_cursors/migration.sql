-- Counter cursors move out of "Node" into their own table (the counter writer
-- updates them every second for every reporting node; on "Node" they contended
-- with ACK and last-seen updates). Existing cursors are kept.

-- CreateTable
CREATE TABLE "CounterCursor" (
    "nodeId" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "boot" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,

    CONSTRAINT "CounterCursor_pkey" PRIMARY KEY ("nodeId")
);

-- CreateIndex
CREATE INDEX "CounterCursor_organizationId_idx" ON "CounterCursor"("organizationId");

-- AddForeignKey
ALTER TABLE "CounterCursor" ADD CONSTRAINT "CounterCursor_nodeId_fkey" FOREIGN KEY ("nodeId") REFERENCES "Node"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Keep the cursors ("<boot>:<seq>"; the boot id itself contains no colon at its end)
INSERT INTO "CounterCursor" ("nodeId", "organizationId", "boot", "seq")
SELECT id, "organizationId", regexp_replace("counterCursor", ':[0-9]+$', ''), substring("counterCursor" from ':([0-9]+)$')::int
FROM "Node" WHERE "counterCursor" ~ ':[0-9]+$';

-- AlterTable
ALTER TABLE "Node" DROP COLUMN "counterCursor";
