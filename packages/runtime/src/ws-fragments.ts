/** ws 8.x: the receiver's list of the fragments of the message being read. */
interface WsReceiverOf {
  _receiver?: { _fragments: Buffer[] } | null;
}

/**
 * Gives a `ws` socket's receiver back the one fragment list the caller keeps for that socket,
 * emptied; call it as each message is handed over (binaryType 'nodebuffer': the message is joined
 * by then). Used on both ends of the device channel: edge-ws's sockets and the simulator's.
 *
 * ws gives its receiver a new `[]` after each message. On a connection that hears something every
 * few seconds that array lives long enough to be promoted, and the next frame is pushed into it just
 * before it is dropped: dead but old, it keeps that frame (its Buffer and the read's ArrayBuffer)
 * alive through every scavenge until the next full GC. With a list that stays alive, frames die
 * young. Typed structurally, so the runtime does not depend on ws.
 */
export function reuseFragmentList(socket: object, list: Buffer[]): void {
  const receiver = (socket as WsReceiverOf)._receiver;
  if (!receiver) return;
  list.length = 0;
  receiver._fragments = list;
}
