import { router } from '../../trpc.ts';
import { acknowledgeAlert } from './acknowledge.ts';
import { createAlertRule } from './create-rule.ts';
import { deleteAlertRule } from './delete-rule.ts';
import { listAlerts } from './list.ts';
import { listAlertRules } from './rules.ts';
import { updateAlertRule } from './update-rule.ts';

/** The notification list and the rules that fill it. Delivery: router `webhooks`. */
export const alertsRouter = router({
  list: listAlerts,
  acknowledge: acknowledgeAlert,
  rules: listAlertRules,
  createRule: createAlertRule,
  updateRule: updateAlertRule,
  deleteRule: deleteAlertRule,
});
