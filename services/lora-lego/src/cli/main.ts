#!/usr/bin/env -S node --import tsx
/**
 * `lora-lego` command-line entry: `node --import tsx services/lora-lego/src/cli/main.ts merge …`.
 * Ctrl-C stops the merge at the next module and removes the temporary output; a second Ctrl-C
 * kills the process at once.
 */
import { runCli } from './run.js';

const controller = new AbortController();
process.once('SIGINT', () => controller.abort());

const status = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, signal: controller.signal });
// Exit explicitly: native thread pools (onnxruntime) must not keep a finished CLI alive, but
// stdout must drain first when it is a pipe.
process.stdout.write('', () => process.exit(status));
