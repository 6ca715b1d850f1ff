import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { reuseFragmentList } from '../src/ws-fragments.ts';

describe('reuseFragmentList: one fragment list per socket', () => {
  it('still delivers whole and fragmented messages, each read through the same emptied list', async () => {
    const wss = new WebSocketServer({ port: 0, perMessageDeflate: false });
    await once(wss, 'listening');
    wss.on('connection', (peer) => {
      peer.send(Buffer.from('one'));
      peer.send(Buffer.from('tw'), { binary: true, fin: false });
      peer.send(Buffer.from('o'), { binary: true, fin: true });
      peer.send('three');
    });
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, {
      perMessageDeflate: false,
    });
    const receiver = () => (client as unknown as { _receiver: { _fragments: unknown[] } })._receiver;
    const list: Buffer[] = [];
    const seen: Array<{ text: string; isBinary: boolean; fragments: unknown[] }> = [];
    const done = new Promise<void>((resolve) => {
      client.on('message', (data: Buffer, isBinary) => {
        reuseFragmentList(client, list);
        seen.push({ text: data.toString(), isBinary, fragments: receiver()._fragments });
        if (seen.length === 3) resolve();
      });
    });
    try {
      await done;
      expect(seen.map((m) => [m.text, m.isBinary])).toEqual([
        ['one', true],
        ['two', true],
        ['three', false],
      ]);
      // A new list per message would be promoted between the edge's frames and keep the next one alive.
      for (const message of seen) expect(message.fragments).toBe(list);
      expect(list).toEqual([]);
    } finally {
      client.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  });
});
