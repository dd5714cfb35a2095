-- AlterTable
ALTER TABLE "Service" ADD COLUMN     "draft" BOOLEAN NOT NULL DEFAULT false;

