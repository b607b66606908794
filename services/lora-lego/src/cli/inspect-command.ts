/** `lora-lego inspect`: what an adapter holds (modules, ranks, scales, dtype), read from headers only. */
import type { InspectCommand } from './args.js';
import { describeAdapter, formatInspect } from './format.js';
import type { CliIO } from './io.js';
import { closeAll, openAdapterArgs } from './open-adapter.js';

export async function runInspect(cmd: InspectCommand, io: CliIO): Promise<void> {
  const adapters = await openAdapterArgs(cmd.adapters);
  try {
    if (cmd.json) {
      const docs = adapters.map(describeAdapter);
      io.stdout.write(`${JSON.stringify(cmd.adapters.length === 1 ? docs[0] : docs, null, 2)}\n`);
    } else {
      io.stdout.write(adapters.map(formatInspect).join('\n'));
    }
  } finally {
    await closeAll(adapters);
  }
}
