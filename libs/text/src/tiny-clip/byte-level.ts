/**
 * GPT-2/CLIP byte-level alphabet: every byte 0..255 maps to one printable Unicode character, so a
 * byte-level BPE can spell any UTF-8 text with its 256 base symbols and never needs an unknown
 * token. Printable Latin-1 bytes map to themselves; the rest are shifted to U+0100 and up. The
 * order (printable bytes first) is the order CLIP's vocabulary lists them in.
 */
export function byteLevelAlphabet(): { byteToChar: string[]; orderedChars: string[] } {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const byteToChar = new Array<string>(256);
  const orderedBytes = [...printable];
  for (const b of printable) byteToChar[b] = String.fromCodePoint(b);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    if (byteToChar[b] !== undefined) continue;
    byteToChar[b] = String.fromCodePoint(256 + shifted++);
    orderedBytes.push(b);
  }
  return { byteToChar, orderedChars: orderedBytes.map((b) => byteToChar[b]!) };
}

/** A word's bytes as byte-level characters. */
export function toByteLevel(word: string, byteToChar: readonly string[]): string[] {
  return [...new TextEncoder().encode(word)].map((b) => byteToChar[b]!);
}
