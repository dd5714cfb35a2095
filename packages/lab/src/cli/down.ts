// `npm run lab:down`: removes everything the local lab made (its network
// namespaces, and with them the processes, devices and rules inside), also after
// a crash. The panel and its data are left alone.
import { listNamespaces } from '@tula/netlab';
import { labDownCommand } from '../command.ts';
import { LAB_PREFIX, removeLocalLab } from '../lab.ts';

if (process.getuid?.() !== 0) {
  console.error(`lab:down needs root (it removes network namespaces): ${labDownCommand()}`);
  process.exit(1);
}
const before = (await listNamespaces()).filter((n) => n.startsWith(`${LAB_PREFIX}-`));
await removeLocalLab();
console.log(before.length ? `removed ${before.length} lab namespaces: ${before.join(', ')}` : 'no lab to remove');
