// A panel on real PostgreSQL with a signed-up owner, and a namespace lab of two
// balancers and three backends whose real agents are enrolled into it (lb1 and
// lb2 balancers, b1-b3 backends). Shared by the tests that drive balancers from
// the panel (staged rollouts, HA).
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import { createLab, type Lab } from '@tula/netlab';
import { apiClient, enrollLab, signUp, type AgentProcess, type Api } from './control.ts';
import { startPanel, type PanelProcess } from './panel.ts';

export interface PanelLab {
  db: TestDatabase;
  panel: PanelProcess;
  api: Api;
  lab: Lab;
  agents: Map<string, AgentProcess>;
  /** A lab host's node id, by name (lb1, b2, ...). */
  id(name: string): string;
  /** Stops the agents, removes the lab, stops the panel and drops the database: whatever of it was made. */
  stop(): Promise<void>;
}

/** `prefix` and `managementNet`: the lab's namespace prefix and management subnet, unique to the test file. */
export async function startPanelLab(o: { prefix: string; managementNet: number; authSecret: string; email: string }): Promise<PanelLab> {
  const made: Partial<PanelLab> = {};
  const stop = async () => {
    for (const a of made.agents?.values() ?? []) await a.stop();
    await made.lab?.destroy();
    await made.panel?.stop();
    await made.db?.drop();
  };
  try {
    made.db = await createTestDatabase();
    made.panel = await startPanel({ DATABASE_URL: made.db.url, TULA_AUTH_SECRET: o.authSecret, HOST: '0.0.0.0' });
    made.api = apiClient(made.panel.url, await signUp(made.panel.url, o.email));
    made.lab = await createLab({ prefix: o.prefix, balancers: 2, managementNet: o.managementNet });
    const { agents, nodeIds } = await enrollLab(made.api, made.lab, made.panel.port);
    made.agents = agents;
    await made.api.nodes.setRole.mutate({ id: nodeIds.get('lb2')!, role: 'balancer' });
    const { db, panel, api, lab } = made as Required<typeof made>;
    return { db, panel, api, lab, agents, id: (name) => nodeIds.get(name)!, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
