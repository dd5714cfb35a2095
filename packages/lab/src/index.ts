export { labAvailability, LAB_DEMO, LAB_PREFIX, removeLocalLab, startLocalLab, type LocalLab } from './lab.ts';
export { labDownCommand, labSudoCommand } from './command.ts';
