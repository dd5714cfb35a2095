-- AlterTable
ALTER TABLE "Node" ADD COLUMN     "upgradeRequestedAt" TIMESTAMP(3),
ADD COLUMN     "upgradeStatus" JSONB;

