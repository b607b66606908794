/** `lora-lego --help` texts. */
import { MERGE_METHODS } from '../merge/types.js';

const USAGE = `usage: lora-lego merge --adapter DIR|TAR [--weight W] [--adapter DIR|TAR [--weight W]]... --out DIR [options]
       lora-lego inspect --adapter DIR|TAR [--json]
       lora-lego --help | lora-lego merge --help`;

export const MERGE_HELP = `${USAGE}

Merge PEFT LoRA adapters into one adapter (LoRA-LEGO rank-wise clustering, or a baseline).
The result is a PEFT folder (adapter_config.json + adapter_model.safetensors, r = lora_alpha = k)
that PEFT, vLLM and LoRAX load unchanged.

inputs and output
  --adapter DIR|TAR      a PEFT adapter folder, or a tar of one; repeat for each adapter
  --weight W             user weight of the --adapter right before it (default 1; may be negative)
  --out DIR              output folder; written atomically (DIR.tmp-<pid>, then renamed).
                         An existing non-empty DIR is refused unless --force
  --force                replace a non-empty --out folder
  --report FILE          write the full merge report (per-module inertia, cluster sizes,
                         per-input relative error and retained energy, warnings) as JSON
  --dtype auto|F32|F16|BF16
                         output dtype (default auto: the inputs' dtype if they agree, else F32)
  --quiet, -q            no progress and no summary (errors still go to stderr)

method
  --method M             ${MERGE_METHODS.join(', ')} (default lego)
  --k K                  output rank (default: max r_i; cat and task_arithmetic: Σ r_i)
  --seed S               seed of k-means++ (lego) and DARE drops (default 0); same seed, same bytes

lego
  --n-init N             k-means restarts, the lowest inertia wins (default 4)
  --max-iter N           Lloyd iterations per restart (default 100)
  --tol T                stop when the relative inertia change is below T (default 1e-6)
  --metric euclidean|cosine
                         cluster the MSU vectors, or their unit vectors (default euclidean)
  --param-norm l2|linf|none
                         parameter reweighting of the centroids (default l2)
  --output-scale sqrt_rank_ratio|none|NUMBER
                         output reweighting γ applied to B' (default sqrt_rank_ratio: √(r/k))

dense baselines (ties, dare_linear, dare_ties, magnitude_prune)
  --density D            fraction of entries kept, in (0, 1] (default 0.5)
task_arithmetic
  --lambda L             λ in λ·Σ w_i ΔW_i (default 1)

Progress goes to stderr (one redrawn line on a terminal, a line per 10 % otherwise); the
summary (per-input mean relative error and retained energy, warnings, wall time) to stdout.

exit status: 0 done; 2 bad input (a flag, an adapter, a non-empty --out; nothing is written);
             1 other failure; 130 interrupted

example
  lora-lego merge --adapter ./math --adapter ./code --weight 0.5 \\
    --method lego --k 16 --seed 0 --out ./merged --report merged-report.json
`;

export const INSPECT_HELP = `${USAGE}

Show what a PEFT adapter holds: base model, r, lora_alpha, rsLoRA, rank/alpha patterns, and per
module its kind, rank, alpha, scale (PEFT's scaling), shape and dtype. Reads headers only.

  --adapter DIR|TAR      a PEFT adapter folder or a tar of one; repeatable
  --json                 print JSON instead of a table
`;

export const MAIN_HELP = `${USAGE}

Merge PEFT LoRA adapters from the command line, with the same code as the lora-lego service.

commands
  merge     merge adapters into one (lora-lego merge --help for all options)
  inspect   show an adapter's modules, ranks, scales and dtype
`;

export function helpText(topic?: 'merge' | 'inspect'): string {
  return topic === 'merge' ? MERGE_HELP : topic === 'inspect' ? INSPECT_HELP : MAIN_HELP;
}
