-- Each replica's flush records, per organisation, the newest second its connected agents' counters are stored through.
-- CreateTable
CREATE TABLE "CounterWatermark" (
    "organizationId" TEXT NOT NULL,
    "replica" TEXT NOT NULL,
    "batch" BIGINT NOT NULL,
    "completeThrough" TIMESTAMP(3) NOT NULL,
    "writtenAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "CounterWatermark_pkey" PRIMARY KEY ("organizationId","replica")
);

GRANT SELECT, INSERT, UPDATE, DELETE ON "CounterWatermark" TO tula_tenant;
ALTER TABLE "CounterWatermark" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "CounterWatermark" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));
