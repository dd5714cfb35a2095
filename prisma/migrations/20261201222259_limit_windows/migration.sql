-- CreateTable
CREATE TABLE "LimitWindow" (
    "key" TEXT NOT NULL,
    "windowStart" TIMESTAMP(3) NOT NULL,
    "hits" INTEGER NOT NULL,

    CONSTRAINT "LimitWindow_pkey" PRIMARY KEY ("key")
);

