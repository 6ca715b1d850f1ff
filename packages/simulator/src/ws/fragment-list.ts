import type WebSocket from 'ws';

/** ws 8.x: the receiver's list of the fragments of the message being read. */
interface WsReceiverOf {
  _receiver: { _fragments: Buffer[] } | null | undefined;
}

/**
 * Gives a socket's receiver back the one fragment list the socket keeps for good, emptied; call it
 * from the 'message' listener (binaryType 'nodebuffer': the message is already joined by then).
 *
 * ws gives its receiver a new `[]` after each message. On a gateway that hears from the edge every
 * few seconds that array lives long enough to be promoted, and the next frame is pushed into it just
 * before it is dropped: dead but old, it keeps that frame (its Buffer and the read's ArrayBuffer)
 * alive through every scavenge until the next full GC. With a list that stays alive, frames die young.
 */
export function reuseFragmentList(ws: WebSocket, list: Buffer[]): void {
  const receiver = (ws as unknown as WsReceiverOf)._receiver;
  if (!receiver) return;
  list.length = 0;
  receiver._fragments = list;
}
