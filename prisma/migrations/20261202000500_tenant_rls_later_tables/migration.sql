-- Tenant tables added beside the row-level security migration (revisions and
-- staged rollouts) get the same policy: change() writes them through the
-- tenant client, which had no grant on them. tenant.test.ts checks that every
-- table with an "organizationId" column has this policy.
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
