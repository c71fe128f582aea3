/** A checkpoint the runtime cannot serve. The message always names the file and, when known, the tensor. */
export class CheckpointError extends Error {
  readonly file?: string;
  readonly tensor?: string;

  constructor(message: string, where: { file?: string; tensor?: string } = {}) {
    const location = [where.file && `file ${where.file}`, where.tensor && `tensor ${where.tensor}`].filter(Boolean).join(', ');
    super(location ? `${message} (${location})` : message);
    this.name = 'CheckpointError';
    this.file = where.file;
    this.tensor = where.tensor;
  }
}
