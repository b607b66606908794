import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isWeightsmithError } from '@weightsmith/core';
import { contributionByPhenotypeSvg, dominanceMapSvg, escapeXml, modelColour } from '../src/report/svg.js';

interface XmlElement {
  name: string;
  attrs: Map<string, string>;
  text: string;
  children: XmlElement[];
}

const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;
const NAME = '[A-Za-z_][\\w.:-]*';
const TAG = new RegExp(`^<(/?)(${NAME})((?:\\s+${NAME}="[^"<]*")*)\\s*(/?)>$`);
const ATTR = new RegExp(`(${NAME})="([^"<]*)"`, 'g');

function unescape(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

/**
 * A tiny well-formedness checker for the subset of XML the renderers write (elements,
 * attributes in double quotes, text, entities): tags balance, one root, no stray '<' or '&',
 * no duplicate attributes. Throws on the first problem; returns the element tree.
 */
function parseXml(xml: string): XmlElement {
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  for (const token of xml.match(/<[^>]*>|[^<]+/g) ?? []) {
    if (token.startsWith('<')) {
      const m = TAG.exec(token);
      if (!m) throw new Error(`malformed tag: ${token.slice(0, 80)}`);
      const [, close, name, attrText, selfClose] = m;
      if (close) {
        if (attrText || selfClose) throw new Error(`bad closing tag ${token}`);
        const open = stack.pop();
        if (!open || open.name !== name) throw new Error(`</${name}> closes <${open?.name}>`);
        continue;
      }
      const attrs = new Map<string, string>();
      for (const a of attrText!.matchAll(ATTR)) {
        if (attrs.has(a[1]!)) throw new Error(`duplicate attribute ${a[1]} in ${token}`);
        if (a[2]!.replace(ENTITY, '').includes('&')) throw new Error(`raw & in attribute of ${token}`);
        attrs.set(a[1]!, unescape(a[2]!));
      }
      const el: XmlElement = { name: name!, attrs, text: '', children: [] };
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(el);
      else if (root) throw new Error('more than one root element');
      else root = el;
      if (!selfClose) stack.push(el);
    } else {
      if (token.replace(ENTITY, '').includes('&')) throw new Error(`raw & in text: ${token.slice(0, 80)}`);
      const parent = stack[stack.length - 1];
      if (!parent) {
        if (token.trim() !== '') throw new Error(`text outside the root: ${token.slice(0, 80)}`);
        continue;
      }
      parent.text += unescape(token);
    }
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (!root) throw new Error('no root element');
  return root;
}

function all(el: XmlElement, pred: (e: XmlElement) => boolean, out: XmlElement[] = []): XmlElement[] {
  if (pred(el)) out.push(el);
  for (const c of el.children) all(c, pred, out);
  return out;
}
const byClass = (root: XmlElement, cls: string): XmlElement[] => all(root, (e) => e.attrs.get('class') === cls);
const texts = (root: XmlElement): string[] => all(root, (e) => e.name === 'text').map((e) => e.text);

function throwsCode(fn: () => unknown, code: string, field: string): void {
  assert.throws(fn, (err: unknown) => isWeightsmithError(err) && err.code === code && err.field === field);
}

describe('the XML checker itself', () => {
  test('rejects what it should', () => {
    assert.throws(() => parseXml('<a><b></a></b>'));
    assert.throws(() => parseXml('<a>x & y</a>'));
    assert.throws(() => parseXml('<a x="1" x="2"/>'));
    assert.throws(() => parseXml('<a></a><b/>'));
    assert.throws(() => parseXml('<a>'));
    assert.equal(parseXml('<a k="&lt;&amp;">t &gt; u<b/></a>').children.length, 1);
  });
});

describe('escapeXml', () => {
  test('escapes the five specials and drops control characters', () => {
    assert.equal(escapeXml(`<a & 'b' "c">\u0001`), '&lt;a &amp; &apos;b&apos; &quot;c&quot;&gt;\uFFFD');
  });
});

describe('contributionByPhenotypeSvg', () => {
  const models = ['UNI', 'CONCH <v1.5> & "friends"', 'Virchow2'];
  const phenotypes = ['tumour', 'stroma', "necrosis's edge"];
  // 3 phenotypes × 3 models; rows sum to 1 like softmax weights.
  const alpha = [0.8, 0.1, 0.1, 0.2, 0.6, 0.2, 0.1, 0.2, 0.7];

  test('well-formed, one bar per phenotype × model, coloured per model', () => {
    const svg = contributionByPhenotypeSvg(alpha, models, phenotypes);
    const root = parseXml(svg);
    assert.equal(root.name, 'svg');
    assert.equal(root.attrs.get('xmlns'), 'http://www.w3.org/2000/svg');
    const bars = byClass(root, 'bar');
    assert.equal(bars.length, 9);
    bars.forEach((bar, i) => assert.equal(bar.attrs.get('fill'), modelColour(i % 3)));
    // Heights are proportional to the values: 0.8 vs 0.1 → 8×.
    const h = bars.map((b) => Number(b.attrs.get('height')));
    assert.ok(Math.abs(h[0]! / h[1]! - 8) < 0.01, `heights ${h[0]} / ${h[1]}`);
    // Bars share the baseline.
    const base = bars.map((b) => Number(b.attrs.get('y')) + Number(b.attrs.get('height')));
    for (const b of base) assert.ok(Math.abs(b - base[0]!) < 0.02);
  });

  test('legend, axis labels and names are present and escaped', () => {
    const svg = contributionByPhenotypeSvg(alpha, models, phenotypes, { title: 'Cohort <A>' });
    assert.ok(!svg.includes('<v1.5>'), 'raw model name leaked into the SVG');
    const root = parseXml(svg);
    const t = texts(root);
    for (const name of [...models, ...phenotypes, 'Cohort <A>', 'mean gate weight α', 'phenotype']) {
      assert.ok(t.includes(name), `missing text "${name}"`);
    }
    const swatches = byClass(root, 'legend-swatch');
    assert.deepEqual(
      swatches.map((s) => s.attrs.get('fill')),
      [0, 1, 2].map(modelColour),
    );
  });

  test('a phenotype without tiles draws no bars and says so', () => {
    const withEmpty = [...alpha.slice(0, 3), Number.NaN, Number.NaN, Number.NaN, ...alpha.slice(6)];
    const root = parseXml(contributionByPhenotypeSvg(withEmpty, models, phenotypes));
    assert.equal(byClass(root, 'bar').length, 6);
    assert.ok(texts(root).includes('no tiles'));
  });

  test('bad input is named', () => {
    throwsCode(() => contributionByPhenotypeSvg(alpha.slice(1), models, phenotypes), ErrorCode.ShapeMismatch, 'perPhenotypeAlpha');
    throwsCode(() => contributionByPhenotypeSvg(alpha, [], phenotypes), ErrorCode.InvalidInput, 'modelNames');
    throwsCode(
      () => contributionByPhenotypeSvg([...alpha.slice(0, 8), -1], models, phenotypes),
      ErrorCode.InvalidInput,
      'perPhenotypeAlpha',
    );
  });
});

describe('dominanceMapSvg', () => {
  // A 3 × 2 grid of 256-px tiles: x ∈ {0, 256, 512}, y ∈ {1024, 1280}.
  const coords = new Float64Array([0, 1024, 256, 1024, 512, 1024, 0, 1280, 256, 1280, 512, 1280]);
  const dominant = Int32Array.from([0, 1, 1, 2, 0, 2]);
  const names = ['UNI', 'CONCH', 'H-optimus-0 <&>'];

  test('one rect per tile at its scaled coordinates, coloured by its model', () => {
    const root = parseXml(dominanceMapSvg(coords, dominant, names, { size: 800 }));
    const tiles = byClass(root, 'tile');
    assert.equal(tiles.length, 6);
    // Extent 768 × 512 coordinate units → scale 800/768; the tile side is the grid step 256.
    const scale = 800 / 768;
    tiles.forEach((r, t) => {
      assert.equal(r.attrs.get('fill'), modelColour(dominant[t]!));
      assert.ok(Math.abs(Number(r.attrs.get('x')) - (coords[2 * t]! - 0) * scale) < 0.01);
      assert.ok(Math.abs(Number(r.attrs.get('y')) - (coords[2 * t + 1]! - 1024) * scale) < 0.01);
      assert.ok(Math.abs(Number(r.attrs.get('width')) - 256 * scale) < 0.01);
    });
    assert.ok(texts(root).includes('H-optimus-0 <&>'));
    assert.equal(byClass(root, 'legend-swatch').length, 3);
  });

  test('winner weight sets opacity: a tie fades to 0.25, certainty is opaque', () => {
    const weights = [1, 1 / 3, 2 / 3, 1, 1, 1];
    const tiles = byClass(parseXml(dominanceMapSvg(coords, dominant, names, { alpha: weights })), 'tile');
    assert.equal(tiles[0]!.attrs.get('fill-opacity'), '1.000');
    assert.equal(tiles[1]!.attrs.get('fill-opacity'), '0.250');
    // (2/3 − 1/3) / (2/3) = ½ → 0.25 + 0.75·½
    assert.equal(tiles[2]!.attrs.get('fill-opacity'), '0.625');
  });

  test('a title with markup is escaped', () => {
    const svg = dominanceMapSvg(coords, dominant, names, { title: 'slide </svg><script>x</script>' });
    assert.ok(!svg.includes('<script>'));
    assert.ok(texts(parseXml(svg)).includes('slide </svg><script>x</script>'));
  });

  test('a single tile still renders', () => {
    const root = parseXml(dominanceMapSvg([10, 10], [0], ['only']));
    assert.equal(byClass(root, 'tile').length, 1);
  });

  test('bad input is named', () => {
    throwsCode(() => dominanceMapSvg(coords, [0, 1, 1, 3, 0, 2], names), ErrorCode.InvalidInput, 'dominantModel');
    throwsCode(() => dominanceMapSvg(coords.subarray(2), dominant, names), ErrorCode.ShapeMismatch, 'coords');
    throwsCode(() => dominanceMapSvg(coords, dominant, names, { alpha: [1] }), ErrorCode.ShapeMismatch, 'alpha');
    throwsCode(() => dominanceMapSvg([], [], names), ErrorCode.InvalidInput, 'dominantModel');
  });
});
