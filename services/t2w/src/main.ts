import { startService } from '@weightsmith/http';
import { definition } from './service.js';

try {
  await startService(definition);
} catch (err) {
  // Configuration and store errors at start-up: say what is wrong and exit non-zero.
  console.error(`${definition.name} failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
