-- AlterTable
ALTER TABLE "OutboxMessage" ADD COLUMN     "organizationId" TEXT,
ADD COLUMN     "ownersOnly" BOOLEAN NOT NULL DEFAULT false;

-- CreateIndex
CREATE INDEX "OutboxMessage_organizationId_createdAt_idx" ON "OutboxMessage"("organizationId", "createdAt");

-- AddForeignKey
ALTER TABLE "OutboxMessage" ADD CONSTRAINT "OutboxMessage_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- Owners read their organisation's kept mail through the tenant client: row-level
-- security keeps another organisation's mail (and mail of no organisation) out of sight.
GRANT SELECT, INSERT, UPDATE, DELETE ON "OutboxMessage" TO tula_tenant;
ALTER TABLE "OutboxMessage" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "OutboxMessage" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));
