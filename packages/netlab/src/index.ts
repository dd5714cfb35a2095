export { createLab, listNamespaces, removeNamespaces, withoutFlowEntries, LAB, type Lab, type LabHost, type LabOptions } from './lab.ts';
export { compiledEntry, netlabScript, type NetlabScript } from './compiled.ts';
export { routerBirdConfig, startRouterBgp, type RouterBgp, type RouterBgpOptions } from './router-bgp.ts';
