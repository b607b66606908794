import { byteLevelAlphabet, toByteLevel } from './byte-level.js';

/**
 * A real CLIP-style byte-level BPE tokenizer with a small vocabulary, written in the
 * `tokenizer.json` format of the Hugging Face fast tokenizers (the same normalizer,
 * pre-tokenizer, model, post-processor and decoder sections `openai/clip-vit-base-patch32` has):
 *
 * - normalizer: NFC, whitespace runs → one space, lowercase;
 * - pre-tokenizer: CLIP's split regex (specials, English contractions, letter runs, single
 *   digits, punctuation runs; whitespace dropped), then the byte-level alphabet;
 * - model: BPE with `</w>` marking the end of a word; the vocabulary starts with the 256
 *   byte-level symbols and their 256 `</w>` forms — so any text, in any script, tokenizes
 *   without an unknown token — followed by the merge results and the two specials;
 * - post-processor: `<|startoftext|> … <|endoftext|>`; the end-of-text token has the highest id,
 *   which is what CLIP's argmax pooling relies on.
 *
 * The merges are learned from `corpus` by plain BPE training (most frequent pair first, ties
 * broken by the pair's text) until every corpus word is one token.
 */

export const CLIP_BOS = '<|startoftext|>';
export const CLIP_EOS = '<|endoftext|>';
const END_OF_WORD = '</w>';

/** CLIP's pre-tokenization pattern (`openai/clip-vit-base-patch32` tokenizer.json, Split). */
export const CLIP_SPLIT_PATTERN =
  "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

/** Words the default fixture knows as whole tokens: Fashion-MNIST and CIFAR-10 classes, prompts. */
export const DEFAULT_TINY_CLIP_CORPUS: readonly string[] = [
  'a photo of a t-shirt/top',
  'a photo of a trouser',
  'a photo of a pullover',
  'a photo of a dress',
  'a photo of a coat',
  'a photo of a sandal',
  'a photo of a shirt',
  'a photo of a sneaker',
  'a photo of a bag',
  'a photo of an ankle boot',
  'a classifier for fashion mnist',
  'a classifier for cifar airplane automobile bird cat deer dog frog horse ship truck',
  'an image of the digits zero one two three four five six seven eight nine',
  'weights for a model that classifies clothing and shoes',
];

export interface TinyClipTokenizerFiles {
  /** Contents of tokenizer.json. */
  tokenizerJson: Record<string, unknown>;
  /** Contents of tokenizer_config.json. */
  tokenizerConfig: Record<string, unknown>;
  /** Contents of special_tokens_map.json. */
  specialTokensMap: Record<string, unknown>;
  /** token → id, specials included. */
  vocab: Map<string, number>;
  /** Merges in rank order, as `"left right"`. */
  merges: string[];
  bosId: number;
  eosId: number;
  vocabSize: number;
}

export function buildTinyClipTokenizer(corpus: readonly string[], modelMaxLength: number): TinyClipTokenizerFiles {
  const { byteToChar, orderedChars } = byteLevelAlphabet();
  const split = new RegExp(CLIP_SPLIT_PATTERN, 'gu');

  // word (as byte-level symbols, '</w>' on the last) → frequency
  const wordCounts = new Map<string, number>();
  for (const line of corpus) {
    const normalized = line.normalize('NFC').replace(/\s+/g, ' ').toLowerCase();
    for (const m of normalized.matchAll(split)) {
      const key = m[0];
      wordCounts.set(key, (wordCounts.get(key) ?? 0) + 1);
    }
  }
  const words = [...wordCounts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([w, count]) => {
      const symbols = toByteLevel(w, byteToChar);
      symbols[symbols.length - 1] += END_OF_WORD;
      return { symbols, count };
    });

  const merges = trainMerges(words);

  const vocab = new Map<string, number>();
  const add = (token: string): void => {
    if (!vocab.has(token)) vocab.set(token, vocab.size);
  };
  for (const c of orderedChars) add(c);
  for (const c of orderedChars) add(c + END_OF_WORD);
  for (const [a, b] of merges) add(a + b);
  add(CLIP_BOS);
  add(CLIP_EOS);
  const bosId = vocab.get(CLIP_BOS)!;
  const eosId = vocab.get(CLIP_EOS)!;

  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: true,
    special: true,
  });
  const mergeStrings = merges.map(([a, b]) => `${a} ${b}`);
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(bosId, CLIP_BOS), special(eosId, CLIP_EOS)],
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: CLIP_SPLIT_PATTERN }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: 'RobertaProcessing',
      sep: [CLIP_EOS, eosId],
      cls: [CLIP_BOS, bosId],
      trim_offsets: false,
      add_prefix_space: false,
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: CLIP_EOS,
      continuing_subword_prefix: '',
      end_of_word_suffix: END_OF_WORD,
      fuse_unk: false,
      byte_fallback: false,
      vocab: Object.fromEntries(vocab),
      merges: mergeStrings,
    },
  };
  const tokenizerConfig = {
    add_prefix_space: false,
    bos_token: CLIP_BOS,
    clean_up_tokenization_spaces: true,
    do_lower_case: true,
    eos_token: CLIP_EOS,
    errors: 'replace',
    model_max_length: modelMaxLength,
    pad_token: CLIP_EOS,
    tokenizer_class: 'CLIPTokenizer',
    unk_token: CLIP_EOS,
  };
  const tokenEntry = (content: string) => ({ content, lstrip: false, normalized: true, rstrip: false, single_word: false });
  const specialTokensMap = {
    bos_token: tokenEntry(CLIP_BOS),
    eos_token: tokenEntry(CLIP_EOS),
    pad_token: tokenEntry(CLIP_EOS),
    unk_token: tokenEntry(CLIP_EOS),
  };
  return { tokenizerJson, tokenizerConfig, specialTokensMap, vocab, merges: mergeStrings, bosId, eosId, vocabSize: vocab.size };
}

/** Plain BPE training: merge the most frequent adjacent pair until every word is one symbol. */
function trainMerges(words: { symbols: string[]; count: number }[]): [string, string][] {
  const merges: [string, string][] = [];
  for (;;) {
    const pairCounts = new Map<string, { pair: [string, string]; count: number }>();
    for (const { symbols, count } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const pair: [string, string] = [symbols[i]!, symbols[i + 1]!];
        const key = `${pair[0]} ${pair[1]}`;
        const entry = pairCounts.get(key);
        if (entry) entry.count += count;
        else pairCounts.set(key, { pair, count });
      }
    }
    let best: { key: string; pair: [string, string]; count: number } | undefined;
    for (const [key, { pair, count }] of pairCounts) {
      if (!best || count > best.count || (count === best.count && key < best.key)) best = { key, pair, count };
    }
    if (!best) return merges;
    merges.push(best.pair);
    const [a, b] = best.pair;
    for (const w of words) {
      const next: string[] = [];
      for (let i = 0; i < w.symbols.length; i++) {
        if (i + 1 < w.symbols.length && w.symbols[i] === a && w.symbols[i + 1] === b) {
          next.push(a + b);
          i++;
        } else next.push(w.symbols[i]!);
      }
      w.symbols = next;
    }
  }
}
