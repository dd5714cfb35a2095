/** What an organisation on the free trial may have; shown in the panel and enforced when adding. */
export interface TrialLimits {
  nodes: number;
  services: number;
}

export const DEFAULT_TRIAL_LIMITS: TrialLimits = { nodes: 10, services: 25 };
