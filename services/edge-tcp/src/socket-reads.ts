import type { Socket } from 'node:net';

/**
 * One read buffer for every tracker socket. A socket read callback runs to its end before the next
 * read of any socket, and whatever outlives the callback is copied first (the framer copies a split
 * frame, decoders copy byte values, a frame queued during login is copied), so one buffer suffices.
 */
const SHARED_READ_BUFFER = new Uint8Array(64 * 1024);

/**
 * Makes `socket` (created paused) read into the shared buffer and hand `onRead` a view of each
 * read, then starts reading. This is what Node's `onread` socket option does; net.Server has no
 * such option, so it is set the way the option sets it. By default every read allocates a 64 KiB
 * buffer, trims it into a new ArrayBuffer and pushes it through the stream machinery to a 'data'
 * listener: on an edge where nearly every read is one small packet that was a visible share of
 * the CPU. A plain Uint8Array, not a Buffer: the framer's views of it are then plain (and cheaper)
 * too. Falls back to 'data' events if this Node's sockets do not look as expected.
 */
export function readIntoSharedBuffer(socket: Socket, onRead: (bytes: Uint8Array) => void): void {
  if (!useUserBuffer(socket, (length) => onRead(SHARED_READ_BUFFER.subarray(0, length)))) {
    socket.on('data', onRead);
  }
  socket.resume();
}

interface UserBufferHandle {
  useUserBuffer(buffer: Uint8Array): void;
}

function useUserBuffer(socket: Socket, callback: (length: number) => void): boolean {
  const symbols = Object.getOwnPropertySymbols(socket);
  const kBuffer = symbols.find((s) => s.description === 'kBuffer');
  const kBufferCb = symbols.find((s) => s.description === 'kBufferCb');
  const handle = (socket as unknown as { _handle?: Partial<UserBufferHandle> })._handle;
  if (!kBuffer || !kBufferCb || typeof handle?.useUserBuffer !== 'function') return false;
  const fields = socket as unknown as Record<symbol, unknown>;
  fields[kBuffer] = SHARED_READ_BUFFER;
  fields[kBufferCb] = callback;
  handle.useUserBuffer(SHARED_READ_BUFFER);
  return true;
}
