export { createLab, listNamespaces, removeNamespaces, LAB, type Lab, type LabHost, type LabOptions } from './lab.ts';
