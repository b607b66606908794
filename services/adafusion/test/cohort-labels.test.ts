import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isWeightsmithError } from '@weightsmith/core';
import { labelsFromJson, parseLabelsCsv, parseTargetsCsv } from '../src/cohort/index.js';

describe('labels', () => {
  test('CSV: header case-insensitive, whitespace trimmed, quoted fields with commas and quotes, CRLF, BOM, blank lines', () => {
    const text = '\ufeffSlide_ID , Label\r\n  s1 , tumour \r\n"s,2","grade ""3"""\r\n\r\ns3,normal\n';
    const labels = parseLabelsCsv(text);
    assert.deepEqual([...labels], [
      ['s1', 'tumour'],
      ['s,2', 'grade "3"'],
      ['s3', 'normal'],
    ]);
  });

  test('CSV: a wrong header, short lines, duplicates and empty labels are refused, all at once', () => {
    assert.throws(() => parseLabelsCsv('slide,label\ns1,a\n'), (err: unknown) => {
      assert.ok(isWeightsmithError(err, 'invalid_input'));
      assert.match(err.message, /header must be "slide_id,label", got "slide,label"/);
      return true;
    });
    assert.throws(() => parseLabelsCsv('slide_id,label\ns1,a\ns2\ns1,b\ns3,\n'), (err: unknown) => {
      assert.ok(isWeightsmithError(err, 'invalid_input'));
      assert.deepEqual(err.issues.map((i) => i.message), [
        'labels: line 3 has 1 fields, expected 2 (slide_id,label)',
        'labels: line 4: slide "s1" is labelled twice',
        'labels: line 5 has an empty label',
      ]);
      return true;
    });
    assert.throws(() => parseLabelsCsv('slide_id,label\n"s1,a\n'), /unterminated quoted field/);
  });

  test('JSON labels: numbers become class names', () => {
    assert.deepEqual([...labelsFromJson({ a: 1, b: ' x ' })], [
      ['a', '1'],
      ['b', 'x'],
    ]);
  });

  test('targets CSV: x,y,genes with every bad cell reported', () => {
    const t = parseTargetsCsv('x,y,GENE1,GENE2\n0,0,1.5,2\n256,0,-1,0.25\n', 't.csv');
    assert.deepEqual(t.genes, ['GENE1', 'GENE2']);
    assert.deepEqual([...t.coords], [0, 0, 256, 0]);
    assert.deepEqual([...t.values], [1.5, 2, -1, 0.25]);
    assert.throws(() => parseTargetsCsv('x,y,G\n0,0,abc\n1,0,NaN\n', 't.csv'), (err: unknown) => {
      assert.ok(isWeightsmithError(err));
      assert.equal(err.issues.length, 2);
      assert.match(err.issues[0]!.message, /line 2, column G: "abc" is not a finite number/);
      return true;
    });
  });
});
