import { Coalescer, BATCH_BYTES } from './coalesce';

const nextTurn = () => new Promise(r => setImmediate(r));

describe('Coalescer', () => {
  it('passes on what arrives in one turn as one batch, byte for byte', async () => {
    const c = new Coalescer();
    const out: Buffer[] = [];
    c.on('data', b => out.push(b));
    const bytes = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 256));
    for (const b of bytes) c.write(Buffer.from([b]));
    c.end();
    await new Promise(r => c.once('end', r));
    expect(out).toHaveLength(1);
    expect(Buffer.concat(out).equals(bytes)).toBe(true);
  });

  it('never holds more than one batch: a long run leaves in batches of the largest size', async () => {
    const c = new Coalescer();
    const sizes: number[] = [];
    c.on('data', b => sizes.push(b.length));
    const piece = Buffer.alloc(100, 'x');
    const total = 3 * BATCH_BYTES + 500;
    for (let sent = 0; sent < total; sent += 100) c.write(piece.subarray(0, Math.min(100, total - sent)));
    c.end();
    await new Promise(r => c.once('end', r));
    expect(sizes).toEqual([BATCH_BYTES, BATCH_BYTES, BATCH_BYTES, 500]);
  });

  it('does not wait for more: a lone small piece leaves at the end of its turn', async () => {
    const c = new Coalescer();
    const out: string[] = [];
    c.on('data', b => out.push(b.toString()));
    c.write(Buffer.from('event 1\n\n'));
    await nextTurn();
    await nextTurn();
    expect(out).toEqual(['event 1\n\n']);
    c.write(Buffer.from('event 2\n\n'));
    await nextTurn();
    await nextTurn();
    expect(out).toEqual(['event 1\n\n', 'event 2\n\n']);
    c.destroy();
  });

  it('passes a large piece on as it is, after what was waiting', async () => {
    const c = new Coalescer();
    const out: Buffer[] = [];
    c.on('data', b => out.push(b));
    const large = Buffer.alloc(32 * 1024, 'L');
    c.write(Buffer.from('s'));
    c.write(large);
    c.end();
    await new Promise(r => c.once('end', r));
    expect(out.map(b => b.toString('latin1', 0, 1))).toEqual(['s', 'L']);
    expect(out[1]).toBe(large);
  });

  it('gives a filter every batch, and what it held back at the end', async () => {
    const held: Buffer[] = [];
    const c = new Coalescer({
      write: batch => {
        held.push(batch.subarray(batch.length - 1));
        return batch.subarray(0, batch.length - 1);
      },
      end: () => Buffer.concat(held.splice(0)),
    });
    const out: Buffer[] = [];
    c.on('data', b => out.push(b));
    c.write(Buffer.from('abc'));
    await nextTurn();
    c.end(Buffer.from('def'));
    await new Promise(r => c.once('end', r));
    expect(Buffer.concat(out).toString()).toBe('abdecf');
  });
});
