import type { TargetMessage, TargetSetup } from './protocol.js';
import { targets } from './targets.js';

/** One target in its own process: start it, say where it listens, stop when the orchestrator says so. */
const send = (message: TargetMessage) => new Promise<void>((resolve) => process.send!(message, () => resolve()));

const setup = JSON.parse(process.argv[2]!) as TargetSetup;
try {
  const target = await targets[setup.target](setup);
  // 'mark': the measured run starts now (after the warm-up); anything else: stop, saying how much CPU was used since.
  let mark: NodeJS.CpuUsage | undefined;
  process.on('message', async (message) => {
    if (message === 'mark') {
      mark = process.cpuUsage();
      return;
    }
    const used = mark && process.cpuUsage(mark);
    const { storedTokens } = await target.stop();
    await send({ type: 'stopped', storedTokens, ...(used ? { cpuMicros: used.user + used.system } : {}) });
    process.exit(0);
  });
  await send({ type: 'ready', url: target.url, ...(target.token ? { token: target.token } : {}) });
} catch (error) {
  await send({ type: 'failed', error: error instanceof Error ? error.stack ?? error.message : String(error) });
  process.exit(1);
}
