/**
 * Slide labels (classification) from CSV (`slide_id,label`) or JSON (`{slide: label}`), and
 * tile targets (regression) from CSV (`x,y,gene…`). Problems are collected, not thrown one by
 * one, so a user fixes a file in one round.
 */
import { ErrorCode, WeightsmithError, type FieldIssue } from '@weightsmith/core';
import { parseCsv } from './csv.js';

/** slide id → class name, in file order. */
export type SlideLabels = Map<string, string>;

function throwIssues(issues: FieldIssue[]): never {
  const first = issues[0]!;
  throw new WeightsmithError(ErrorCode.InvalidInput, issues.length > 1 ? `${first.message} (and ${issues.length - 1} more)` : first.message, {
    field: first.field,
    issues,
  });
}

/** `slide_id,label` CSV (header required, case-insensitive) → labels; all problems in one error. */
export function parseLabelsCsv(text: string, field = 'labels'): SlideLabels {
  const records = parseCsv(text, field);
  const header = records[0];
  if (!header || header.fields.length !== 2 || header.fields[0]!.toLowerCase() !== 'slide_id' || header.fields[1]!.toLowerCase() !== 'label') {
    const got = header ? header.fields.join(',') : 'an empty file';
    throw new WeightsmithError(ErrorCode.InvalidInput, `${field}: the header must be "slide_id,label", got ${JSON.stringify(got)}`, { field });
  }
  const labels: SlideLabels = new Map();
  const issues: FieldIssue[] = [];
  for (const { line, fields } of records.slice(1)) {
    if (fields.length !== 2) {
      issues.push({ field, message: `${field}: line ${line} has ${fields.length} fields, expected 2 (slide_id,label)` });
      continue;
    }
    const [slide, label] = fields as [string, string];
    if (slide === '' || label === '') issues.push({ field, message: `${field}: line ${line} has an empty ${slide === '' ? 'slide_id' : 'label'}` });
    else if (labels.has(slide)) issues.push({ field, message: `${field}: line ${line}: slide ${JSON.stringify(slide)} is labelled twice` });
    else labels.set(slide, label);
  }
  if (issues.length > 0) throwIssues(issues);
  if (labels.size === 0) throw new WeightsmithError(ErrorCode.InvalidInput, `${field}: no labels after the header`, { field });
  return labels;
}

/** `{slide: label}` JSON labels; numbers become their decimal text (class "1"). */
export function labelsFromJson(record: Readonly<Record<string, string | number>>, field = 'labels'): SlideLabels {
  const labels: SlideLabels = new Map();
  const issues: FieldIssue[] = [];
  for (const [slide, value] of Object.entries(record)) {
    const label = typeof value === 'number' ? String(value) : value.trim();
    if (label === '') issues.push({ field: `${field}.${slide}`, message: `label of slide ${JSON.stringify(slide)} is empty` });
    else labels.set(slide, label);
  }
  if (issues.length > 0) throwIssues(issues);
  return labels;
}

/** Tile targets of one slide: n × 2 coords and n × genes values, row-major, file order. */
export interface TileTargets {
  n: number;
  genes: string[];
  coords: Float64Array;
  values: Float32Array;
}

/** `x,y,gene…` CSV of one slide's tile targets. */
export function parseTargetsCsv(text: string, field: string): TileTargets {
  const records = parseCsv(text, field);
  const header = records[0];
  if (!header || header.fields.length < 3 || header.fields[0]!.toLowerCase() !== 'x' || header.fields[1]!.toLowerCase() !== 'y') {
    throw new WeightsmithError(ErrorCode.InvalidInput, `${field}: the header must be "x,y,<gene>,…" with at least one gene`, { field });
  }
  const genes = header.fields.slice(2);
  const rows = records.slice(1);
  const G = genes.length;
  const coords = new Float64Array(rows.length * 2);
  const values = new Float32Array(rows.length * G);
  const issues: FieldIssue[] = [];
  rows.forEach(({ line, fields }, r) => {
    if (fields.length !== G + 2) {
      issues.push({ field, message: `${field}: line ${line} has ${fields.length} fields, expected ${G + 2}` });
      return;
    }
    fields.forEach((text, c) => {
      const v = text === '' ? Number.NaN : Number(text);
      if (!Number.isFinite(v)) {
        issues.push({ field, message: `${field}: line ${line}, column ${header.fields[c]}: ${JSON.stringify(text)} is not a finite number` });
      } else if (c < 2) coords[2 * r + c] = v;
      else values[r * G + c - 2] = v;
    });
  });
  if (issues.length > 0) throwIssues(issues.slice(0, 20));
  return { n: rows.length, genes, coords, values };
}
