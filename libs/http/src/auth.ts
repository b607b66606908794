import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCode, WeightsmithError } from '@weightsmith/core';

/**
 * Bearer-token check. Tokens are compared as sha256 digests with `timingSafeEqual`: digests
 * have equal length whatever the token lengths, so neither a token's content nor its length
 * leaks through timing, and every configured token is compared (no early exit).
 */
export class BearerAuth {
  private readonly digests: Buffer[];

  constructor(tokens: readonly string[]) {
    this.digests = tokens.filter((t) => t.length > 0).map(sha256);
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** Throws `unauthorized` unless the Authorization header carries a configured token. */
  check(authorization: string | undefined): void {
    if (authorization === undefined || authorization.trim() === '') {
      throw unauthorized('missing bearer token: send "Authorization: Bearer <token>"');
    }
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (!match) throw unauthorized('the Authorization header must be "Bearer <token>"');
    const presented = sha256(match[1] ?? '');
    let ok = false;
    for (const digest of this.digests) ok = timingSafeEqual(presented, digest) || ok;
    if (!ok) throw unauthorized('the bearer token is not valid');
  }
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

const unauthorized = (message: string): WeightsmithError =>
  new WeightsmithError(ErrorCode.Unauthorized, message, { field: 'header.authorization' });
