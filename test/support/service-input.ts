// One valid service for the tests that save services through the API: what the form
// sends for a plain L2 service on port 80/tcp, with the fields each test cares about on top.
import { DEFAULT_HEALTH_CHECK, NEW_SERVICE_SETTINGS, type ServiceInput } from '@tula/validators';

const PLAIN: Omit<ServiceInput, 'vip' | 'balancerNodeIds' | 'backends'> = {
  name: 'web',
  ...NEW_SERVICE_SETTINGS,
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
