/**
 * The ONNX graph that scores features with an `mlp-gelu-cosine-head` whose weights are inputs,
 * so one loaded session evaluates any generated head: logits = τ · cos(head(features), text),
 * with head = Linear(f→h) – GELU(erf) – Linear(h→e) in PyTorch's [out, in] weight layout.
 */
import { GraphBuilder } from '@weightsmith/onnx';

export const COSINE_HEAD_INPUTS = {
  features: 'features',
  fc1Weight: 'fc1_weight',
  fc1Bias: 'fc1_bias',
  fc2Weight: 'fc2_weight',
  fc2Bias: 'fc2_bias',
  classEmbeddings: 'class_embeddings',
} as const;
export const COSINE_HEAD_OUTPUTS = { logits: 'logits', predicted: 'predicted' } as const;

export function buildCosineHeadGraph(tau: number): Uint8Array {
  const g = new GraphBuilder({ name: 't2w-cosine-head-eval', docString: 'logits = tau * cos(fc2(gelu(fc1(x))), class text embeddings)' });
  const I = COSINE_HEAD_INPUTS;
  const x = g.input(I.features, 'float32', ['n', 'f']);
  const w1 = g.input(I.fc1Weight, 'float32', ['h', 'f']);
  const b1 = g.input(I.fc1Bias, 'float32', ['h']);
  const w2 = g.input(I.fc2Weight, 'float32', ['e', 'h']);
  const b2 = g.input(I.fc2Bias, 'float32', ['e']);
  const text = g.input(I.classEmbeddings, 'float32', ['c', 'e']);

  const hidden = g.gelu(g.add(g.matMul(x, g.transpose(w1, [1, 0])), b1));
  const out = g.add(g.matMul(hidden, g.transpose(w2, [1, 0])), b2); // [n, e]
  // Unit rows; the tiny epsilon keeps an all-zero output finite (cosine 0 with every class).
  const unit = (m: string): string => g.div(m, g.add(g.sqrt(g.reduceSum(g.mul(m, m), [1], true)), g.scalar(1e-12)));
  const logits = g.mul(g.matMul(unit(out), g.transpose(unit(text), [1, 0])), g.scalar(tau)); // [n, c]
  g.output(COSINE_HEAD_OUTPUTS.logits, 'float32', ['n', 'c'], { from: logits });
  g.output(COSINE_HEAD_OUTPUTS.predicted, 'int64', ['n'], { from: g.argMax(logits, 1, false) });
  return g.toModelBytes();
}
