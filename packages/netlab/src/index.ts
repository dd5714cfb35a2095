export { createLab, listNamespaces, removeNamespaces, withoutFlowEntries, LAB, type Lab, type LabHost, type LabOptions } from './lab.ts';
export { routerBirdConfig, startRouterBgp, type RouterBgp, type RouterBgpOptions } from './router-bgp.ts';
