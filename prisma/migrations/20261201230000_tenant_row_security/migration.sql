-- Row-level security behind the organisation filters written in each query.
-- The tenant client (packages/db/src/tenant.ts) runs a transaction as the role
-- tula_tenant with the organisation in the setting tula.org; these policies
-- then show and accept only that organisation's rows, so a query that forgot
-- its "where organizationId" returns nothing of another tenant. The role the
-- panel connects with keeps full access, for the work that spans tenants by
-- design (the agent gateway, enrollment by token, sign-up, migrations).
DO $$ BEGIN
  CREATE ROLE tula_tenant NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- one role per server, shared by its databases
END $$;
-- A connecting role that is not a superuser may take the tenant role.
GRANT tula_tenant TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO tula_tenant;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO tula_tenant;
GRANT SELECT ON "Organization" TO tula_tenant;
ALTER TABLE "Organization" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "Organization" TO tula_tenant USING ("id" = current_setting('tula.org', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON "Membership" TO tula_tenant;
ALTER TABLE "Membership" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "Membership" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON "Invitation" TO tula_tenant;
ALTER TABLE "Invitation" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "Invitation" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON "Node" TO tula_tenant;
ALTER TABLE "Node" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "Node" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON "CounterCursor" TO tula_tenant;
ALTER TABLE "CounterCursor" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "CounterCursor" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON "EnrollmentToken" TO tula_tenant;
ALTER TABLE "EnrollmentToken" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "EnrollmentToken" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON "Service" TO tula_tenant;
ALTER TABLE "Service" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "Service" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON "Backend" TO tula_tenant;
ALTER TABLE "Backend" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "Backend" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON "ServiceBalancer" TO tula_tenant;
ALTER TABLE "ServiceBalancer" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "ServiceBalancer" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON "CounterSample" TO tula_tenant;
ALTER TABLE "CounterSample" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "CounterSample" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON "CounterRollup" TO tula_tenant;
ALTER TABLE "CounterRollup" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "CounterRollup" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON "HealthTransition" TO tula_tenant;
ALTER TABLE "HealthTransition" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "HealthTransition" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON "AuditEvent" TO tula_tenant;
ALTER TABLE "AuditEvent" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "AuditEvent" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));
