import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PieceWriter, WRITE_PIECE_BYTES } from '../../../lib/model/piece-writer';
import { makeTempDir, removeDir } from './fixtures';

const dir = makeTempDir('piece-writer');
after(() => removeDir(dir));

function written(name: string, write: (out: PieceWriter, fd: number) => void): Buffer {
  const file = path.join(dir, name);
  const fd = fs.openSync(file, 'w');
  try {
    write(new PieceWriter(fd), fd);
  } finally {
    fs.closeSync(fd);
  }
  return fs.readFileSync(file);
}

test('appended bytes and zero padding land at their offsets across piece boundaries', () => {
  const first = Uint8Array.from({ length: WRITE_PIECE_BYTES - 5 }, (_, i) => (i % 251) + 1);
  const second = Uint8Array.from({ length: 11 }, (_, i) => 200 + i);
  const end = 2 * WRITE_PIECE_BYTES + 3;
  const file = written('boundaries.bin', (out) => {
    out.append(first);
    out.padTo(WRITE_PIECE_BYTES + 2);
    out.append(second);
    assert.equal(out.position, WRITE_PIECE_BYTES + 13);
    out.padTo(end);
    out.finish();
  });
  assert.equal(file.length, end);
  assert.ok(file.subarray(0, first.length).equals(first));
  assert.ok(file.subarray(first.length, WRITE_PIECE_BYTES + 2).equals(Buffer.alloc(7)));
  assert.ok(file.subarray(WRITE_PIECE_BYTES + 2, WRITE_PIECE_BYTES + 13).equals(second));
  assert.ok(file.subarray(WRITE_PIECE_BYTES + 13).equals(Buffer.alloc(end - WRITE_PIECE_BYTES - 13)));
});

test('nothing can be written after finish', () => {
  written('finished.bin', (out) => {
    out.append(new Uint8Array(3));
    out.finish();
    assert.throws(() => out.append(new Uint8Array(1)), /has finished/);
    assert.throws(() => out.padTo(10), /has finished/);
  });
});

test('padding back over written bytes is refused', () => {
  written('backwards.bin', (out) => {
    out.append(new Uint8Array(10));
    assert.throws(() => out.padTo(4), /cannot pad back to 4 from 10/);
  });
});

test('the file grows only by whole pieces until finish, so every write starts at a piece boundary', () => {
  const file = written('staged.bin', (out, fd) => {
    out.append(new Uint8Array(100).fill(9));
    assert.equal(fs.fstatSync(fd).size, 0);
    out.append(new Uint8Array(WRITE_PIECE_BYTES).fill(8));
    assert.equal(fs.fstatSync(fd).size, WRITE_PIECE_BYTES);
    out.finish();
    assert.equal(fs.fstatSync(fd).size, WRITE_PIECE_BYTES + 100);
  });
  assert.equal(file[99], 9);
  assert.equal(file[100], 8);
});
