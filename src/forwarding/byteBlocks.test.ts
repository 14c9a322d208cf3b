import { ByteBlocks, MAX_BLOCK_BYTES } from './byteBlocks';

const bytes = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7) % 256));

describe('ByteBlocks', () => {
  it('keeps the bytes in order, however they were cut', () => {
    const data = bytes(200_000);
    for (const size of [1, 3, 1000, 70_000]) {
      const blocks = new ByteBlocks();
      for (let at = 0; at < data.length; at += size) blocks.append(data.subarray(at, at + size));
      expect(blocks.length).toBe(data.length);
      expect(Buffer.concat(blocks.finish()).equals(data)).toBe(true);
    }
  });

  it('costs a few blocks, not an object per piece: 1 MB in 1-byte pieces', () => {
    const blocks = new ByteBlocks();
    const one = Buffer.alloc(1, 'x');
    for (let i = 0; i < 1024 * 1024; i++) blocks.append(one);
    const list = blocks.finish();
    expect(list.length).toBeLessThan(1024 * 1024 / MAX_BLOCK_BYTES + 10);
    expect(list.reduce((n, b) => n + b.length, 0)).toBe(1024 * 1024);
  });

  it('with an announced length: allocates as the bytes come, not what was announced', () => {
    const before = process.memoryUsage().arrayBuffers;
    const started = Array.from({ length: 20 }, () => {
      const blocks = new ByteBlocks(10 * 1024 * 1024);
      blocks.append(Buffer.from('x'));
      return blocks;
    });
    // 200 MB announced, 20 bytes sent: one block each at most.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(20 * MAX_BLOCK_BYTES + 1024 * 1024);
    expect(started.map(b => b.length)).toEqual(Array(20).fill(1));
  });

  it('with an announced length: the blocks add up to exactly that length', () => {
    const blocks = new ByteBlocks(100_000);
    blocks.append(bytes(100_000));
    expect(blocks.finish().map(b => b.length)).toEqual([65_536, 34_464]);
  });

  it('hands each block to onBlock once, in order (to hash as the bytes arrive)', () => {
    const data = bytes(150_000);
    const seen: Buffer[] = [];
    const blocks = new ByteBlocks(undefined, b => seen.push(b));
    for (let at = 0; at < data.length; at += 999) blocks.append(data.subarray(at, at + 999));
    const list = blocks.finish();
    expect(seen).toEqual(list);
    expect(Buffer.concat(seen).equals(data)).toBe(true);
  });
});
