export * from './maglev.ts';
export * from './model.ts';
export * from './render.ts';
export { fnv1a32 } from './hash.ts';
export * from './lookup-change.ts';
export { ModelError } from './checks.ts';
export { HASH_SEED } from './flows.ts';
export { addressInteger, hex } from './syntax.ts';
export { allocateIds, type RetiredIds } from './ids.ts';
export {
  BACKEND_MASK,
  MARK_NEW_FLOW,
  markRange,
  markValue,
  MAX_BACKEND_ID,
  MAX_SERVICE_ID,
  SERVICE_MASK,
  TUNNEL_TABLE_BASE,
  type MarkRange,
} from './marks.ts';
export { fragmentsDigest, newTableId, TABLE_NAME, type Fragment, type NftChain, type NftSet, type NftTable } from './tables.ts';
export { TUNNEL_DEVICES, TUNNEL_OVERHEAD, tunnelMss, UNDERLAY_MTU, VXLAN } from './tunnels.ts';
