import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '@fleetwire/runtime';
import { DEVICE_ERROR, DeviceError } from '../domain/errors.ts';
import type { DeviceSession, TokenHeaders } from '../domain/sessions.ts';
import { SUBPROTOCOL, type WsEdge } from '../edge.ts';
import type { EdgeWsMetrics } from '../metrics.ts';
import { CONNECT_PATH } from './session-routes.ts';

export interface UpgradeDeps {
  edge: WsEdge;
  authenticate(headers: TokenHeaders): Promise<DeviceSession>;
  metrics: EdgeWsMetrics;
  log: Logger;
}

/**
 * `server.on('upgrade')`: the session is checked before the WebSocket handshake, so a refused device
 * gets a plain HTTP answer with the usual JSON error body and never a single frame.
 */
export function upgradeHandler(deps: UpgradeDeps) {
  return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // Until ws owns the socket, a reset by the device must not become an uncaught error.
    socket.on('error', ignore);
    authorize(req, deps).then(
      (session) => {
        if (socket.destroyed) return;
        socket.off('error', ignore);
        deps.edge.accept(req, socket, head, session);
      },
      (err: unknown) => {
        const refusal =
          err instanceof DeviceError ? err : new DeviceError(DEVICE_ERROR.UNAVAILABLE, 'try again later');
        if (!(err instanceof DeviceError)) deps.log.error({ err }, 'session check failed');
        deps.metrics.upgradesRefused.inc({ reason: refusal.code });
        deps.log.info({ code: refusal.code, remote: req.socket.remoteAddress }, 'upgrade refused');
        refuse(socket, refusal);
      },
    );
  };
}

async function authorize(req: IncomingMessage, deps: UpgradeDeps): Promise<DeviceSession> {
  if ((req.url ?? '').split('?')[0] !== CONNECT_PATH) {
    throw new DeviceError(DEVICE_ERROR.NOT_FOUND, `WebSocket devices connect to ${CONNECT_PATH}`);
  }
  if (!deps.edge.accepting) throw new DeviceError(DEVICE_ERROR.SHUTTING_DOWN, 'edge shutting down');
  if (!offersSubprotocol(req.headers['sec-websocket-protocol'])) {
    throw new DeviceError(DEVICE_ERROR.SUBPROTOCOL_REQUIRED, `offer the subprotocol ${SUBPROTOCOL}`);
  }
  return deps.authenticate(req.headers);
}

function offersSubprotocol(header: string | undefined): boolean {
  return (header ?? '').split(',').some((p) => p.trim() === SUBPROTOCOL);
}

function refuse(socket: Duplex, refusal: DeviceError): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(refusal.toBody());
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ''}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      '\r\n' +
      body,
  );
}

function ignore(): void {}
