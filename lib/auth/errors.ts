/** The access error every check throws: 401 (who are you?) or 403 (not you, or not this request). */
export class AccessError extends Error {
  constructor(
    message: string,
    readonly status: 401 | 403,
  ) {
    super(message);
    this.name = 'AccessError';
  }
}
