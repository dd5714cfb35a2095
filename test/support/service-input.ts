// One valid service for the tests that save services through the API: what the form
// sends for a plain L2 service on port 80/tcp, with the fields each test cares about on top.
import { DEFAULT_HEALTH_CHECK, type ServiceInput } from '@tula/validators';

const PLAIN: Omit<ServiceInput, 'vip' | 'balancerNodeIds' | 'backends'> = {
  name: 'web',
  ports: '80',
  protocol: 'tcp',
  mode: 'l2',
  tunnel: 'vxlan',
  ingressInterface: null,
  drainTimeoutS: 300,
  mss: null,
  draft: false,
  healthCheck: DEFAULT_HEALTH_CHECK,
};

export const testService = (fields: Partial<ServiceInput> & Pick<ServiceInput, 'vip' | 'balancerNodeIds' | 'backends'>): ServiceInput => ({
  ...PLAIN,
  ...fields,
});

/** A backend as the form sends it: active, on the service's port, no node named. */
export const testBackend = (address: string, weight = 1): ServiceInput['backends'][number] => ({
  address,
  port: null,
  weight,
  state: 'active',
  nodeId: null,
});
