import type { TargetMessage, TargetSetup } from './protocol.js';
import { targets } from './targets.js';

/** One target in its own process: start it, say where it listens, stop when the orchestrator says so. */
const send = (message: TargetMessage) => new Promise<void>((resolve) => process.send!(message, () => resolve()));

const setup = JSON.parse(process.argv[2]!) as TargetSetup;
try {
  const target = await targets[setup.target](setup);
  process.once('message', async () => {
    const { storedTokens } = await target.stop();
    await send({ type: 'stopped', storedTokens });
    process.exit(0);
  });
  await send({ type: 'ready', url: target.url, ...(target.token ? { token: target.token } : {}) });
} catch (error) {
  await send({ type: 'failed', error: error instanceof Error ? error.stack ?? error.message : String(error) });
  process.exit(1);
}
