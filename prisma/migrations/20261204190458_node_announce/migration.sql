-- AlterTable
ALTER TABLE "Node" ADD COLUMN     "announce" JSONB,
ADD COLUMN     "announceState" JSONB,
ADD COLUMN     "drainTimeoutS" INTEGER NOT NULL DEFAULT 300,
ADD COLUMN     "drainingSince" TIMESTAMP(3);

