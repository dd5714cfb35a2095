-- alerts.list finds what followed each firing alert on its subject by (organizationId, key, createdAt): one index probe per firing row on the page.
-- CreateIndex
CREATE INDEX "Alert_organizationId_key_createdAt_idx" ON "Alert"("organizationId", "key", "createdAt");
