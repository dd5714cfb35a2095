export { createLab, listNamespaces, removeNamespaces, withoutFlowEntries, LAB, type Lab, type LabHost, type LabOptions } from './lab.ts';
