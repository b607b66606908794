/**
 * A small RFC 4180 reader: comma-separated, fields optionally double-quoted with "" for a quote,
 * CRLF or LF line ends, a leading BOM ignored. Unquoted fields are trimmed (spreadsheets pad
 * them); quoted fields keep their content exactly.
 */
import { invalidInput } from '@weightsmith/core';

export interface CsvRecord {
  /** 1-based line of the record's start, for messages. */
  line: number;
  fields: string[];
}

/** Parses `text` into records; blank lines are skipped. `field` names the input in errors. */
export function parseCsv(text: string, field: string): CsvRecord[] {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let cur = '';
  let quoted = false;
  let sawQuote = false;
  let line = 1;
  let recordLine = 1;
  let i = 0;
  const endField = (): void => {
    fields.push(sawQuote ? cur : cur.trim());
    cur = '';
    sawQuote = false;
  };
  const endRecord = (): void => {
    endField();
    if (!(fields.length === 1 && fields[0] === '' )) records.push({ line: recordLine, fields });
    fields = [];
  };
  while (i < src.length) {
    const c = src[i]!;
    if (quoted) {
      if (c === '"') {
        if (src[i + 1] === '"') {
          cur += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        if (c === '\n') line += 1;
        cur += c;
      }
      i += 1;
      continue;
    }
    if (c === '"') {
      if (cur.trim() !== '') throw invalidInput(field, `${field}: line ${line}: a quote inside an unquoted field`);
      cur = '';
      quoted = true;
      sawQuote = true;
    } else if (c === ',') {
      endField();
    } else if (c === '\n' || c === '\r') {
      endRecord();
      if (c === '\r' && src[i + 1] === '\n') i += 1;
      line += 1;
      recordLine = line;
    } else if (sawQuote) {
      if (c.trim() !== '') throw invalidInput(field, `${field}: line ${line}: text after a closing quote`);
    } else {
      cur += c;
    }
    i += 1;
  }
  if (quoted) throw invalidInput(field, `${field}: line ${recordLine}: unterminated quoted field`);
  endRecord();
  return records;
}
