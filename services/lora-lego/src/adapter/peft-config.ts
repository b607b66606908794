/**
 * `adapter_config.json` as PEFT writes it (`LoraConfig.save_pretrained`: `json.dumps(indent=2,
 * sort_keys=True)`), and PEFT's per-module scaling rules.
 *
 * Unknown keys are kept (`looseObject`): PEFT adds fields every release and a merged adapter
 * should not silently lose them. PEFT writes `null` for unset optional fields, so optional
 * fields accept null too.
 */
import { z } from 'zod';
import { ErrorCode, WeightsmithError, type FieldIssue } from '@weightsmith/core';

export const CONFIG_FILE = 'adapter_config.json';

const patternSchema = z.record(z.string(), z.number().finite());

export const peftConfigSchema = z.looseObject({
  peft_type: z.literal('LORA', { error: 'peft_type must be "LORA" (only LoRA adapters can be merged)' }).nullish(),
  r: z.number().int().min(1),
  lora_alpha: z.number().finite(),
  use_rslora: z.boolean().nullish(),
  rank_pattern: patternSchema.nullish(),
  alpha_pattern: patternSchema.nullish(),
  target_modules: z.union([z.string(), z.array(z.string())]).nullish(),
  base_model_name_or_path: z.string().nullish(),
  use_dora: z.boolean().nullish(),
  modules_to_save: z.array(z.string()).nullish(),
  fan_in_fan_out: z.boolean().nullish(),
  task_type: z.string().nullish(),
  bias: z.enum(['none', 'all', 'lora_only']).nullish(),
  lora_bias: z.boolean().nullish(),
  lora_dropout: z.number().nullish(),
  revision: z.string().nullish(),
});

export type PeftConfig = z.infer<typeof peftConfigSchema>;

/** Everything PEFT's `LoraLayer.update_layer` needs to know about one module. */
export interface ModuleScaling {
  r: number;
  alpha: number;
  /** `alpha / r`, or `alpha / sqrt(r)` with rsLoRA. */
  scale: number;
  /** The `rank_pattern` key that set `r`, when one matched. */
  rankPatternKey?: string;
  /** The `alpha_pattern` key that set `alpha`, when one matched. */
  alphaPatternKey?: string;
}

const configField = (path: readonly PropertyKey[]): string =>
  [CONFIG_FILE, ...path.map((p) => String(p))].join('.');

/**
 * Parses and validates `adapter_config.json` bytes. `label` (e.g. the adapter's location) prefixes
 * messages so a user merging several adapters knows which one is wrong.
 */
export function parsePeftConfig(bytes: Uint8Array | string, label = ''): PeftConfig {
  const where = label ? `${label}: ` : '';
  let json: unknown;
  try {
    json = JSON.parse(typeof bytes === 'string' ? bytes : new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new WeightsmithError(ErrorCode.InvalidFormat, `${where}${CONFIG_FILE} is not valid JSON: ${(cause as Error).message}`, {
      field: CONFIG_FILE,
      cause,
    });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new WeightsmithError(ErrorCode.InvalidFormat, `${where}${CONFIG_FILE} must be a JSON object`, { field: CONFIG_FILE });
  }
  const parsed = peftConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issues: FieldIssue[] = parsed.error.issues.map((i) => ({ field: configField(i.path), message: i.message }));
    const first = issues[0] ?? { field: CONFIG_FILE, message: 'invalid' };
    throw new WeightsmithError(
      ErrorCode.InvalidFormat,
      `${where}${first.field}: ${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`,
      { field: first.field, issues },
    );
  }
  const config = parsed.data;
  if (config.use_dora === true) {
    throw new WeightsmithError(ErrorCode.InvalidInput, `${where}DoRA adapters are not supported (${CONFIG_FILE} has use_dora: true)`, {
      field: configField(['use_dora']),
    });
  }
  if (config.lora_bias === true) {
    throw new WeightsmithError(
      ErrorCode.InvalidInput,
      `${where}adapters with LoRA biases are not supported (${CONFIG_FILE} has lora_bias: true): a merge cannot combine them`,
      { field: configField(['lora_bias']) },
    );
  }
  for (const [name, patterns] of [
    ['rank_pattern', config.rank_pattern],
    ['alpha_pattern', config.alpha_pattern],
  ] as const) {
    for (const [key, value] of Object.entries(patterns ?? {})) {
      const field = configField([name, key]);
      if (name === 'rank_pattern' && !(Number.isInteger(value) && value >= 1)) {
        throw new WeightsmithError(ErrorCode.InvalidFormat, `${where}${field}: a rank must be an integer ≥ 1, got ${value}`, { field });
      }
      try {
        patternRegex(key);
      } catch (cause) {
        throw new WeightsmithError(ErrorCode.InvalidFormat, `${where}${field}: the key is not a valid regular expression`, {
          field,
          cause,
        });
      }
    }
  }
  return config;
}

const compiled = new Map<string, RegExp>();

/**
 * PEFT's matcher, `peft/utils/other.py` `get_pattern_key`:
 *
 *     for key in pattern_keys:
 *         match = re.match(rf"(.*\.)?({key})$", key_to_match)
 *         if not match: continue
 *         return key
 *     return key_to_match
 *
 * `re.match` anchors at the start and the pattern at `$`, so a key matches the WHOLE module
 * name or a suffix of it that starts right after a `.`; a key matching only in the middle
 * (`self_attn` for `…self_attn.q_proj`) does not match. Keys are tried in the dict's order
 * (JSON insertion order here; JavaScript moves integer-like keys first, which PEFT patterns
 * never are in practice) and the first hit wins. Python and JavaScript regex syntax agree for
 * the patterns people write (`q_proj`, `layers\.[0-3]\..*`, `(q|v)_proj`).
 */
function patternRegex(key: string): RegExp {
  let re = compiled.get(key);
  if (!re) {
    re = new RegExp(`^(?:.*\\.)?(?:${key})$`, 's');
    compiled.set(key, re);
  }
  return re;
}

/** The first pattern key matching `moduleName` the way PEFT matches it, or undefined. */
export function matchPatternKey(patternKeys: Iterable<string>, moduleName: string): string | undefined {
  for (const key of patternKeys) if (patternRegex(key).test(moduleName)) return key;
  return undefined;
}

/**
 * r, alpha and the scale PEFT uses for one module, as `LoraModel._create_and_replace` does
 * (`peft/tuners/lora/model.py`):
 *
 *     r_key = get_pattern_key(lora_config.rank_pattern.keys(), current_key)
 *     alpha_key = get_pattern_key(lora_config.alpha_pattern.keys(), current_key)
 *     r = lora_config.rank_pattern.get(r_key, lora_config.r)
 *     alpha = lora_config.alpha_pattern.get(alpha_key, lora_config.lora_alpha)
 *
 * and `LoraLayer.update_layer`: `scaling = alpha / sqrt(r)` with `use_rslora`, else `alpha / r`.
 *
 * `moduleName` is PEFT's `current_key`: the module's path inside the base model, i.e. the
 * safetensors key without the `base_model.model.` prefix and without the `.lora_A.weight`
 * suffix (e.g. `model.layers.0.self_attn.q_proj`).
 */
export function resolveModuleScaling(config: PeftConfig, moduleName: string): ModuleScaling {
  const rankPatterns = config.rank_pattern ?? {};
  const alphaPatterns = config.alpha_pattern ?? {};
  const rankPatternKey = matchPatternKey(Object.keys(rankPatterns), moduleName);
  const alphaPatternKey = matchPatternKey(Object.keys(alphaPatterns), moduleName);
  const r = rankPatternKey === undefined ? config.r : (rankPatterns[rankPatternKey] ?? config.r);
  const alpha = alphaPatternKey === undefined ? config.lora_alpha : (alphaPatterns[alphaPatternKey] ?? config.lora_alpha);
  const scale = config.use_rslora === true ? alpha / Math.sqrt(r) : alpha / r;
  return {
    r,
    alpha,
    scale,
    ...(rankPatternKey === undefined ? {} : { rankPatternKey }),
    ...(alphaPatternKey === undefined ? {} : { alphaPatternKey }),
  };
}
