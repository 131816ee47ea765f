/** Shared start for the Node peers that run as a child script (redbird, bare engines). */
import type { RunningSystem, SystemContext, SystemDefinition } from '../system.js';

export async function startNodePeer(
  context: SystemContext,
  name: string,
  childFile: string,
  config: Record<string, unknown>,
): Promise<RunningSystem> {
  const started = context.group.startNodeScript(
    name,
    childFile,
    { ...config, backends: context.backends.ports },
    { cpu: context.pinning.proxyCpu },
  );
  try {
    const { port } = await started.readyMessage<{ port: number }>(15_000);
    return { port, pid: started.pid, stop: () => context.group.stop(started) };
  } catch (error) {
    await context.group.stop(started);
    throw error;
  }
}

/** A Node peer that needs nothing but the backends: always available, started from `childFile` under its id. */
export function nodePeerSystem(id: string, label: string, childFile: string): SystemDefinition {
  return {
    id,
    label,
    unavailable: async () => undefined,
    start: (context) => startNodePeer(context, id, childFile, {}),
  };
}
