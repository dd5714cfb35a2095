-- CreateTable
CREATE TABLE "SsoConnection" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "issuer" TEXT NOT NULL,
    "clientId" TEXT NOT NULL,
    "clientSecretSealed" TEXT NOT NULL,
    "allowedDomains" TEXT[],
    "defaultRole" "MemberRole" NOT NULL DEFAULT 'viewer',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "SsoConnection_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "SsoConnection_organizationId_key" ON "SsoConnection"("organizationId");

-- CreateIndex
CREATE INDEX "SsoConnection_allowedDomains_idx" ON "SsoConnection" USING GIN ("allowedDomains");

-- AddForeignKey
ALTER TABLE "SsoConnection" ADD CONSTRAINT "SsoConnection_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- Row-level security like every tenant table (migration tenant_row_security).
-- Sign-in looks a connection up by provider or address domain before anyone is
-- signed in; that read runs on the owner client (auth.ts says why).
GRANT SELECT, INSERT, UPDATE, DELETE ON "SsoConnection" TO tula_tenant;
ALTER TABLE "SsoConnection" ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "SsoConnection" TO tula_tenant
  USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true));
