-- AlterTable
ALTER TABLE "Node" ADD COLUMN     "connected" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "failingBackends" JSONB NOT NULL DEFAULT '[]',
ADD COLUMN     "statusAt" TIMESTAMP(3),
ADD COLUMN     "warnings" TEXT[] DEFAULT ARRAY[]::TEXT[];

