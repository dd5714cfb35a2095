-- AlterTable
ALTER TABLE "Node" ADD COLUMN     "lastDrift" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN     "lastDriftAt" TIMESTAMP(3);

