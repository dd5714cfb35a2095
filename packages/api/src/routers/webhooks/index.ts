import { router } from '../../trpc.ts';
import { createWebhook } from './create.ts';
import { deleteWebhook } from './delete.ts';
import { webhookDeliveries } from './deliveries.ts';
import { listWebhooks } from './list.ts';
import { sendTestWebhook } from './send-test.ts';

/** Where alerts go besides the panel and mail: signed POSTs, retried (packages/api/src/alerts/deliver.ts). */
export const webhooksRouter = router({
  create: createWebhook,
  list: listWebhooks,
  delete: deleteWebhook,
  sendTest: sendTestWebhook,
  deliveries: webhookDeliveries,
});
