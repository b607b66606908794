/**
 * Duplicate-key detection for JSON text. `JSON.parse` silently keeps the last of two equal keys
 * (and a reviver only sees the survivor), so a header naming one tensor twice would read as if
 * the first entry did not exist. This scanner walks the text once and reports the first object
 * that repeats a key, at any depth.
 */

export interface DuplicateKey {
  /** The repeated key, unescaped. */
  key: string;
  /** Keys leading to the object holding the duplicate; empty for the top-level object. */
  path: string[];
}

interface Frame {
  /** Keys seen so far; `undefined` for arrays. */
  keys: Set<string> | undefined;
  path: string[];
  expectKey: boolean;
  lastKey: string;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

/** Index just past the closing quote of the string literal opening at `start`. */
function endOfString(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i + 1;
  }
  return text.length;
}

/**
 * First duplicate key in `text`, or `undefined`. `text` must already be valid JSON (parse it
 * first): the scanner tracks structure only, it does not validate.
 */
export function findDuplicateKey(text: string): DuplicateKey | undefined {
  const stack: Frame[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    const top = stack[stack.length - 1];
    if (c === QUOTE) {
      const end = endOfString(text, i);
      if (top?.keys && top.expectKey) {
        const literal = text.slice(i, end);
        // Escapes matter: "a" and "\u0061" are the same key.
        const key = literal.includes('\\') ? (JSON.parse(literal) as string) : literal.slice(1, -1);
        if (top.keys.has(key)) return { key, path: top.path };
        top.keys.add(key);
        top.expectKey = false;
        top.lastKey = key;
      }
      i = end;
      continue;
    }
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      const path = top === undefined ? [] : top.keys ? [...top.path, top.lastKey] : top.path;
      stack.push({ keys: c === OPEN_OBJECT ? new Set() : undefined, path, expectKey: c === OPEN_OBJECT, lastKey: '' });
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      stack.pop();
    } else if (c === COMMA && top?.keys) {
      top.expectKey = true;
    }
    i++;
  }
  return undefined;
}
