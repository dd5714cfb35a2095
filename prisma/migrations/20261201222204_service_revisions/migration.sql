-- AlterTable
ALTER TABLE "AuditEvent" ADD COLUMN     "serviceRevisionId" TEXT;

-- CreateTable
CREATE TABLE "ServiceRevision" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "serviceId" TEXT NOT NULL,
    "number" INTEGER NOT NULL,
    "action" TEXT NOT NULL,
    "actorUserId" TEXT,
    "actorLabel" TEXT NOT NULL,
    "document" JSONB,
    "restoredNumber" INTEGER,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ServiceRevision_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "ServiceRevision_organizationId_serviceId_number_key" ON "ServiceRevision"("organizationId", "serviceId", "number");

-- CreateIndex
CREATE INDEX "AuditEvent_organizationId_targetType_targetId_createdAt_idx" ON "AuditEvent"("organizationId", "targetType", "targetId", "createdAt");

-- CreateIndex
CREATE INDEX "AuditEvent_organizationId_actorUserId_createdAt_idx" ON "AuditEvent"("organizationId", "actorUserId", "createdAt");

-- CreateIndex
CREATE INDEX "AuditEvent_serviceRevisionId_idx" ON "AuditEvent"("serviceRevisionId");

-- AddForeignKey
ALTER TABLE "AuditEvent" ADD CONSTRAINT "AuditEvent_serviceRevisionId_fkey" FOREIGN KEY ("serviceRevisionId") REFERENCES "ServiceRevision"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ServiceRevision" ADD CONSTRAINT "ServiceRevision_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- Existing services start their history at revision 1, their rows as they are now.
-- The document has the shape packages/api/src/revisions.ts writes (backends in address order).
INSERT INTO "ServiceRevision" ("id", "organizationId", "serviceId", "number", "action", "actorUserId", "actorLabel", "document", "createdAt")
SELECT gen_random_uuid()::text, s."organizationId", s."id", 1, 'service.import', NULL, 'existing configuration',
  jsonb_build_object(
    'name', s."name", 'vip', s."vip", 'portStart', s."portStart", 'portEnd', s."portEnd",
    'protocol', s."protocol"::text, 'mode', s."mode"::text, 'tunnel', s."tunnel"::text,
    'ingressInterface', s."ingressInterface", 'drainTimeoutS', s."drainTimeoutS", 'mss', s."mss",
    'hcType', s."hcType"::text, 'hcPort', s."hcPort", 'hcPath', s."hcPath", 'hcExpectStatus', s."hcExpectStatus",
    'hcPayload', s."hcPayload", 'hcExpect', s."hcExpect", 'hcIntervalMs', s."hcIntervalMs",
    'hcTimeoutMs', s."hcTimeoutMs", 'hcRise', s."hcRise", 'hcFall', s."hcFall",
    'balancerNodeIds', COALESCE((SELECT jsonb_agg(sb."nodeId" ORDER BY sb."nodeId" COLLATE "C") FROM "ServiceBalancer" sb WHERE sb."serviceId" = s."id"), '[]'::jsonb),
    'backends', COALESCE((SELECT jsonb_agg(jsonb_build_object('address', b."address", 'port', b."port", 'weight', b."weight", 'state', b."state"::text, 'nodeId', b."nodeId")
                                           ORDER BY b."address" COLLATE "C")
                          FROM "Backend" b WHERE b."serviceId" = s."id"), '[]'::jsonb)
  ),
  s."updatedAt"
FROM "Service" s;
