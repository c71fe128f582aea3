/** A review request the server refuses with a message written for the client: 400 bad input, 403 not yours, 404 missing, 409 state conflict. */
export class ReviewError extends Error {
  constructor(message: string, readonly status: 400 | 403 | 404 | 409) {
    super(message);
    this.name = 'ReviewError';
  }
}

export const badInput = (message: string) => new ReviewError(message, 400);
export const notFound = (message: string) => new ReviewError(message, 404);
export const forbidden = (message: string) => new ReviewError(message, 403);
export const conflict = (message: string) => new ReviewError(message, 409);
