import { Transform } from 'node:stream';
import { ErrorCode, WeightsmithError } from './errors.js';

/**
 * A pass-through that fails with `too_large` (field `body` unless told otherwise) as soon as more
 * than `maxBytes` have flowed: uploads without a Content-Length (chunked, multipart parts) are
 * capped while they stream, before they fill a disk.
 */
export function byteLimit(maxBytes: number, what: string, field = 'body'): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.byteLength;
      if (seen > maxBytes) done(new WeightsmithError(ErrorCode.TooLarge, `${what} is larger than the ${maxBytes}-byte upload limit`, { field }));
      else done(null, chunk);
    },
  });
}
