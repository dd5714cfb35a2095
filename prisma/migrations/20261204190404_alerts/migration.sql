-- CreateEnum
CREATE TYPE "AlertKind" AS ENUM ('backend_down', 'service_down', 'node_offline', 'nack', 'drift', 'rollout_rolled_back', 'trial_ending');

-- CreateEnum
CREATE TYPE "WebhookFormat" AS ENUM ('json', 'slack');

-- CreateEnum
CREATE TYPE "DeliveryStatus" AS ENUM ('pending', 'delivered', 'failed');

-- CreateTable
CREATE TABLE "AlertRule" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "kind" "AlertKind" NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "serviceId" TEXT,
    "backendId" TEXT,
    "seconds" INTEGER,
    "email" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "AlertRule_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AlertState" (
    "organizationId" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "changedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AlertState_pkey" PRIMARY KEY ("organizationId","key")
);

-- CreateTable
CREATE TABLE "Alert" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "kind" "AlertKind" NOT NULL,
    "state" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "title" TEXT NOT NULL,
    "detail" TEXT NOT NULL,
    "data" JSONB NOT NULL DEFAULT '{}',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "acknowledgedAt" TIMESTAMP(3),
    "acknowledgedLabel" TEXT,

    CONSTRAINT "Alert_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Webhook" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "format" "WebhookFormat" NOT NULL DEFAULT 'json',
    "secretSealed" TEXT NOT NULL,
    "secretPrefix" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Webhook_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AlertDelivery" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "alertId" TEXT,
    "webhookId" TEXT,
    "email" TEXT,
    "test" BOOLEAN NOT NULL DEFAULT false,
    "payload" JSONB NOT NULL,
    "status" "DeliveryStatus" NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "nextAttemptAt" TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AlertDelivery_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "AlertDeliveryAttempt" (
    "id" BIGSERIAL NOT NULL,
    "organizationId" TEXT NOT NULL,
    "deliveryId" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "statusCode" INTEGER,
    "error" TEXT,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "durationMs" INTEGER NOT NULL,
    "retryAfterMs" INTEGER,

    CONSTRAINT "AlertDeliveryAttempt_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "AlertRule_organizationId_kind_idx" ON "AlertRule"("organizationId", "kind");

-- CreateIndex
CREATE INDEX "Alert_organizationId_createdAt_idx" ON "Alert"("organizationId", "createdAt");

-- CreateIndex
CREATE INDEX "Webhook_organizationId_createdAt_idx" ON "Webhook"("organizationId", "createdAt");

-- CreateIndex
CREATE INDEX "AlertDelivery_organizationId_webhookId_createdAt_idx" ON "AlertDelivery"("organizationId", "webhookId", "createdAt");

-- CreateIndex
CREATE INDEX "AlertDelivery_status_nextAttemptAt_idx" ON "AlertDelivery"("status", "nextAttemptAt");

-- CreateIndex
CREATE INDEX "AlertDeliveryAttempt_organizationId_deliveryId_idx" ON "AlertDeliveryAttempt"("organizationId", "deliveryId");

-- AddForeignKey
ALTER TABLE "AlertRule" ADD CONSTRAINT "AlertRule_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Alert" ADD CONSTRAINT "Alert_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Webhook" ADD CONSTRAINT "Webhook_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "AlertDelivery" ADD CONSTRAINT "AlertDelivery_webhookId_fkey" FOREIGN KEY ("webhookId") REFERENCES "Webhook"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "AlertDeliveryAttempt" ADD CONSTRAINT "AlertDeliveryAttempt_deliveryId_fkey" FOREIGN KEY ("deliveryId") REFERENCES "AlertDelivery"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- Tenant tables: row-level security and the tenant role's grants.
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['AlertRule', 'AlertState', 'Alert', 'Webhook', 'AlertDelivery', 'AlertDeliveryAttempt'] LOOP
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO tula_tenant', t);
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %I TO tula_tenant
      USING ("organizationId" = current_setting('tula.org', true)) WITH CHECK ("organizationId" = current_setting('tula.org', true))$p$, t);
  END LOOP;
END $$;
GRANT USAGE, SELECT ON SEQUENCE "AlertDeliveryAttempt_id_seq" TO tula_tenant;

-- Every organisation starts with one enabled rule of every kind: node offline
-- after 60 s, trial ending 3 days ahead. A trigger, so every way of creating an
-- organisation (sign-up, the lab, tests) gets them, like trialEndsAt.
CREATE FUNCTION tula_default_alert_rules(org text) RETURNS void LANGUAGE sql AS $f$
  INSERT INTO "AlertRule" ("id", "organizationId", "kind", "seconds", "updatedAt")
  SELECT 'rule_' || md5(org || k::text), org, k,
         CASE k WHEN 'node_offline' THEN 60 WHEN 'trial_ending' THEN 259200 END, now()
  FROM unnest(enum_range(NULL::"AlertKind")) AS k
$f$;
CREATE FUNCTION tula_organization_alert_rules() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  PERFORM tula_default_alert_rules(NEW.id);
  RETURN NEW;
END
$f$;
CREATE TRIGGER organization_alert_rules AFTER INSERT ON "Organization"
  FOR EACH ROW EXECUTE FUNCTION tula_organization_alert_rules();

-- The organisations that exist already get the same defaults.
SELECT tula_default_alert_rules(id) FROM "Organization";
