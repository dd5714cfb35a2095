/** The fleet at a glance, from the organisation summary: on the overview and above the fleet table. */
export function FleetCounts({
  counts,
}: {
  counts: {
    nodes: number;
    online: number;
    outOfSync: number;
    withErrors: number;
    nodesWithWarnings: number;
    services: number;
    degradedServices: number;
    unknownServices: number;
  };
}) {
  return (
    <p className="text-sm" data-testid="fleet-counts">
      <strong>{counts.online}</strong> of {counts.nodes} nodes online · <strong>{counts.outOfSync}</strong> not yet in sync ·{' '}
      <strong>{counts.withErrors}</strong> with errors · <strong>{counts.nodesWithWarnings}</strong> with warnings ·{' '}
      <strong data-testid="degraded-services">{counts.degradedServices}</strong> of {counts.services} services degraded or down
      {counts.unknownServices > 0 && (
        <>
          {' '}
          · <strong data-testid="unknown-services">{counts.unknownServices}</strong> with no balancer reporting (health unknown)
        </>
      )}
    </p>
  );
}
