-- AlterTable
ALTER TABLE "Organization" ALTER COLUMN "trialEndsAt" SET DEFAULT (now() + '14 days'::interval);

-- AlterTable
ALTER TABLE "Node" ADD COLUMN     "counterCursor" TEXT,
ADD COLUMN     "desiredState" JSONB,
ADD COLUMN     "hostname" TEXT,
ADD COLUMN     "pendingCredentialHash" TEXT,
ADD COLUMN     "rotationRequestedAt" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "Setting" (
    "key" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Setting_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE UNIQUE INDEX "Node_pendingCredentialHash_key" ON "Node"("pendingCredentialHash");

