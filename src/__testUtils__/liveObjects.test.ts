/*
 * The leak test in service/faults.test.ts counts live objects with countLiveObjects and
 * expects no more after 1,000 aborts than before: this shows that the count sees the objects
 * a test file makes (it runs in a vm context of its own) and forgets them once dropped, so
 * that "no more than before" cannot hold merely because nothing is ever counted.
 */
import net from 'node:net';
import { countLiveObjects } from './liveObjects';

it('counts the sockets a test makes, and forgets them once dropped', async () => {
  const classes = { Socket: "require('node:net').Socket" };
  const before = (await countLiveObjects(classes)).Socket;
  let kept: net.Socket[] = Array.from({ length: 3 }, () => new net.Socket());
  expect((await countLiveObjects(classes)).Socket).toBe(before + 3);
  expect(kept).toHaveLength(3);
  kept = [];
  expect(kept).toHaveLength(0);
  expect((await countLiveObjects(classes)).Socket).toBe(before);
});
