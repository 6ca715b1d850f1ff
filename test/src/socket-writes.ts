import type { NatsConnection } from '@nats-io/transport-node';

/**
 * Counts the writes a NATS connection makes on its real socket (observed, not replaced: each write
 * still goes through). For tests of write coalescing; reaches into nats.js's transport.
 */
export function countSocketWrites(nc: NatsConnection): () => number {
  const socket = (
    nc as unknown as { protocol: { transport: { socket: { write: (...a: unknown[]) => boolean } } } }
  ).protocol.transport.socket;
  const write = socket.write.bind(socket);
  let writes = 0;
  socket.write = (...args: unknown[]) => {
    writes++;
    return write(...args);
  };
  return () => writes;
}
