/**
 * Runs one `lora-lego` command line and returns its exit status. Parsing needs no numeric code,
 * so the merge machinery (onnxruntime…) is loaded only once the flags are known to be good:
 * a typo fails fast.
 */
import { parseCommandLine, type Command } from './args.js';
import { EXIT_OK, exitCodeFor, formatError } from './errors.js';
import { helpText } from './help.js';
import type { CliIO } from './io.js';

export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const name = argv[0] === 'merge' || argv[0] === 'inspect' ? argv[0] : '';
  let command: Command;
  try {
    command = parseCommandLine(argv);
  } catch (err) {
    io.stderr.write(formatError(name, err));
    return exitCodeFor(err);
  }
  try {
    switch (command.command) {
      case 'help':
        io.stdout.write(helpText(command.topic));
        break;
      case 'merge': {
        const { runMerge } = await import('./merge-command.js');
        await runMerge(command, io);
        break;
      }
      case 'inspect': {
        const { runInspect } = await import('./inspect-command.js');
        await runInspect(command, io);
        break;
      }
    }
    return EXIT_OK;
  } catch (err) {
    io.stderr.write(formatError(name, err));
    return exitCodeFor(err);
  }
}
