/**
 * Sequential file output handed to the kernel in 8 MiB pieces at offsets that are multiples of
 * 8 MiB. Linux keeps a file written in 2 MiB-aligned pieces of at least 2 MiB in the page cache as
 * 2 MiB folios, which a memory mapping then reads through huge TLB entries. Written tensor by
 * tensor (1 MiB or smaller, unaligned after the header), a generated checkpoint stayed in 4 KiB
 * pages, and decode over its mapping ran ~9% slower until the file was evicted and read back
 * (README, "Against llama.cpp"). Both checkpoint writers (safetensors, GGUF) use it, so the two
 * engines of bench:peer read files in the same state.
 */
import { writeSync } from 'node:fs';

export const WRITE_PIECE_BYTES = 8 * 1024 * 1024;

export class PieceWriter {
  private readonly piece = Buffer.alloc(WRITE_PIECE_BYTES);
  private pieceLength = 0;
  /** File offset of the staged piece's first byte. */
  private pieceStart = 0;
  private finished = false;

  /** `fd` must be a file opened for writing at offset 0. */
  constructor(private readonly fd: number) {}

  /** The file offset the next byte goes to. */
  get position(): number {
    return this.pieceStart + this.pieceLength;
  }

  append(bytes: Uint8Array): void {
    this.assertOpen();
    for (let done = 0; done < bytes.length; ) {
      const taken = Math.min(bytes.length - done, WRITE_PIECE_BYTES - this.pieceLength);
      this.piece.set(bytes.subarray(done, done + taken), this.pieceLength);
      this.pieceLength += taken;
      done += taken;
      if (this.pieceLength === WRITE_PIECE_BYTES) this.writeStaged();
    }
  }

  /** Zero bytes up to `offset` (the gaps a format's alignment leaves). */
  padTo(offset: number): void {
    this.assertOpen();
    if (offset < this.position) throw new RangeError(`cannot pad back to ${offset} from ${this.position}`);
    while (this.position < offset) {
      const gap = Math.min(offset - this.position, WRITE_PIECE_BYTES - this.pieceLength);
      this.piece.fill(0, this.pieceLength, this.pieceLength + gap);
      this.pieceLength += gap;
      if (this.pieceLength === WRITE_PIECE_BYTES) this.writeStaged();
    }
  }

  /** Writes the last, partial piece; nothing may be appended after it. */
  finish(): void {
    this.writeStaged();
    this.finished = true;
  }

  private assertOpen(): void {
    if (this.finished) throw new Error('the piece writer has finished');
  }

  private writeStaged(): void {
    for (let written = 0; written < this.pieceLength; ) {
      written += writeSync(this.fd, this.piece, written, this.pieceLength - written, this.pieceStart + written);
    }
    this.pieceStart += this.pieceLength;
    this.pieceLength = 0;
  }
}
