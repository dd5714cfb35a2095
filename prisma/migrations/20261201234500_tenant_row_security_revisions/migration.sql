-- The revision and rollout tables joined the tenant client (row-level security,
-- migration tenant_row_security) after it was written: without these grants
-- saving a service in the tenant client failed with "permission denied for table
-- ServiceRevision".
GRANT SELECT, INSERT, UPDATE, DELETE ON "ServiceRevision" TO tula_tenant;
ALTER TABLE "ServiceRevision" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "ServiceRevision" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON "Rollout" TO tula_tenant;
ALTER TABLE "Rollout" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "Rollout" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON "RolloutNode" TO tula_tenant;
ALTER TABLE "RolloutNode" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "RolloutNode" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));

