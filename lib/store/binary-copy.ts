/**
 * PostgreSQL's binary COPY format (https://www.postgresql.org/docs/current/sql-copy.html, "Binary
 * Format") for the column types the chunk path writes: text, int4 and bytea. A bytea field travels
 * as its raw bytes, where an INSERT parameter travels as hex text (twice the bytes, parsed by the
 * server). Written here rather than taken from pg-copy-streams-binary: three field kinds are a few
 * lines, and that package brings six stream helpers of its own.
 */

export type CopyField = string | number | Uint8Array;

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** Signature, flags (no OIDs) and header extension length, both zero. */
export const COPY_HEADER: Uint8Array = Buffer.concat([SIGNATURE, Buffer.alloc(8)]);
/** A field count of -1 ends the data. */
export const COPY_TRAILER: Uint8Array = Buffer.from([0xff, 0xff]);

/**
 * One row's bytes, as pieces: a small buffer for the field count, lengths and the text and int
 * fields, then each bytea's own bytes, not copied.
 */
export function copyRow(fields: readonly CopyField[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let head = Buffer.alloc(2 + fields.reduce<number>((size, field) => size + 4 + (typeof field === 'string' ? Buffer.byteLength(field) : typeof field === 'number' ? 4 : 0), 0));
  let offset = head.writeInt16BE(fields.length, 0);
  for (const field of fields) {
    if (typeof field === 'string') {
      offset = head.writeInt32BE(Buffer.byteLength(field), offset);
      offset += head.write(field, offset, 'utf8');
    } else if (typeof field === 'number') {
      if (!Number.isInteger(field) || field < -(2 ** 31) || field >= 2 ** 31) throw new RangeError(`binary COPY int4 field out of range: ${field}`);
      offset = head.writeInt32BE(4, offset);
      offset = head.writeInt32BE(field, offset);
    } else {
      offset = head.writeInt32BE(field.byteLength, offset);
      pieces.push(head.subarray(0, offset), field);
      head = head.subarray(offset);
      offset = 0;
    }
  }
  if (offset > 0) pieces.push(head.subarray(0, offset));
  return pieces;
}

/** The rows of a binary COPY's output, each field's bytes (a view into `data`) or null for SQL NULL. */
export function readCopyRows(data: Buffer): (Buffer | null)[][] {
  if (data.length < COPY_HEADER.length || !data.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw new Error('not PostgreSQL binary COPY data (bad signature)');
  let offset = SIGNATURE.length + 4;
  offset += 4 + data.readUInt32BE(offset); // header extension, skipped
  const rows: (Buffer | null)[][] = [];
  for (;;) {
    if (offset + 2 > data.length) throw new Error('binary COPY data ends before its trailer');
    const fieldCount = data.readInt16BE(offset);
    offset += 2;
    if (fieldCount === -1) return rows;
    const row: (Buffer | null)[] = [];
    for (let field = 0; field < fieldCount; field++) {
      if (offset + 4 > data.length) throw new Error('binary COPY data ends inside a field');
      const length = data.readInt32BE(offset);
      offset += 4;
      if (length === -1) {
        row.push(null);
        continue;
      }
      if (offset + length > data.length) throw new Error('binary COPY data ends inside a field');
      row.push(data.subarray(offset, offset + length));
      offset += length;
    }
    rows.push(row);
  }
}
