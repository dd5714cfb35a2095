-- Retention deletes alerts and alert deliveries by age, across organisations (packages/gateway/src/retention.ts).
-- CreateIndex
CREATE INDEX "Alert_createdAt_idx" ON "Alert"("createdAt");

-- CreateIndex
CREATE INDEX "AlertDelivery_createdAt_idx" ON "AlertDelivery"("createdAt");

