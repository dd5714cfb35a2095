-- CreateEnum
CREATE TYPE "RolloutStatus" AS ENUM ('running', 'paused', 'completed', 'aborted', 'rolled_back');

-- CreateTable
CREATE TABLE "Rollout" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "serviceId" TEXT NOT NULL,
    "toRevision" INTEGER NOT NULL,
    "fromRevision" INTEGER NOT NULL,
    "status" "RolloutStatus" NOT NULL DEFAULT 'running',
    "holdSeconds" INTEGER NOT NULL,
    "batchSize" INTEGER NOT NULL,
    "batch" INTEGER NOT NULL DEFAULT 0,
    "holdUntil" TIMESTAMP(3),
    "reason" TEXT,
    "startedById" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Rollout_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RolloutNode" (
    "rolloutId" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "nodeId" TEXT NOT NULL,
    "batch" INTEGER NOT NULL,

    CONSTRAINT "RolloutNode_pkey" PRIMARY KEY ("rolloutId","nodeId")
);

-- CreateIndex
CREATE INDEX "Rollout_organizationId_serviceId_createdAt_idx" ON "Rollout"("organizationId", "serviceId", "createdAt");

-- CreateIndex
CREATE INDEX "RolloutNode_organizationId_nodeId_idx" ON "RolloutNode"("organizationId", "nodeId");

-- AddForeignKey
ALTER TABLE "Rollout" ADD CONSTRAINT "Rollout_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RolloutNode" ADD CONSTRAINT "RolloutNode_rolloutId_fkey" FOREIGN KEY ("rolloutId") REFERENCES "Rollout"("id") ON DELETE CASCADE ON UPDATE CASCADE;

