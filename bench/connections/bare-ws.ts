/**
 * The machine's ceiling for new WebSocket connections: a bare `ws` server (no session start, no
 * credential, no database, no NATS, no subprotocol) in one process and plain `ws` clients in this
 * one, on the same cores, as bench/connections runs edge-ws and its load. Whatever edge-ws does per
 * session comes on top of this, so its sessions/s can only be lower. See bench/README.md.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { parseArgs } from '../src/stack.ts';

const USAGE = `node bench/connections/bare-ws.ts [options]
  --connections N       connections opened (default 5000)
  --in-flight N         connections opening at a time (default 256)
  --source-addresses N  spread over 127.0.0.1 … 127.0.0.N (default 4)
  --rounds N            repeat, each round with a fresh server (default 3)`;

type ToServer = { type: 'cpu' };
type FromServer = { type: 'listening'; port: number } | { type: 'cpu'; micros: number };

if (process.argv[2] === '--serve') serve();
else await measure();

function serve(): void {
  const wss = new WebSocketServer({ port: 0, host: '0.0.0.0', perMessageDeflate: false });
  const send = (m: FromServer) => process.send?.(m);
  wss.on('listening', () => send({ type: 'listening', port: (wss.address() as { port: number }).port }));
  process.on('message', (m: ToServer) => {
    if (m.type !== 'cpu') return;
    const { user, system } = process.cpuUsage();
    send({ type: 'cpu', micros: user + system });
  });
  process.on('disconnect', () => process.exit(0));
}

async function measure(): Promise<void> {
  const opts = parseArgs(
    process.argv.slice(2),
    { connections: 5000, inFlight: 256, sourceAddresses: 4, rounds: 3 },
    USAGE,
  );
  console.log(
    `bare ws upgrades: ${opts.connections} connections, ${opts.inFlight} in flight, ` +
      `${opts.sourceAddresses} source addresses, ${opts.rounds} rounds`,
  );
  for (let round = 1; round <= opts.rounds; round++) {
    const r = await oneRound(opts.connections, opts.inFlight, opts.sourceAddresses);
    const total = r.serverMs + r.clientMs;
    console.log(
      `round ${round}: ${r.perSecond.toFixed(0)} connections/s · CPU ms per connection: server ` +
        `${r.serverMs.toFixed(3)} · client ${r.clientMs.toFixed(3)} · both ${total.toFixed(3)} ` +
        `→ at most ${((2 * 1000) / total).toFixed(0)}/s on 2 busy cores`,
    );
    // Let the closed connections' TIME_WAIT sockets not crowd the next round's ports.
    await new Promise((r) => setTimeout(r, 2_000));
  }
}

interface RoundResult {
  perSecond: number;
  serverMs: number;
  clientMs: number;
}

async function oneRound(n: number, inFlight: number, sources: number): Promise<RoundResult> {
  const server = fork(fileURLToPath(import.meta.url), ['--serve'], {
    execArgv: ['--disable-warning=ExperimentalWarning'],
  });
  const next = (type: FromServer['type']) =>
    new Promise<FromServer>((resolve) => {
      const on = (m: FromServer) => {
        if (m.type !== type) return;
        server.off('message', on);
        resolve(m);
      };
      server.on('message', on);
    });
  const { port } = (await next('listening')) as { port: number };
  const serverCpu = async () => {
    const reply = next('cpu');
    server.send({ type: 'cpu' } satisfies ToServer);
    return ((await reply) as { micros: number }).micros;
  };

  const serverBefore = await serverCpu();
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const sockets = await openAll(port, n, inFlight, sources);
  const seconds = (performance.now() - started) / 1000;
  const client = process.cpuUsage(clientBefore);
  const serverAfter = await serverCpu();

  for (const ws of sockets) ws.terminate();
  server.kill();
  return {
    perSecond: n / seconds,
    serverMs: (serverAfter - serverBefore) / 1000 / n,
    clientMs: (client.user + client.system) / 1000 / n,
  };
}

/** Opens `n` connections, `inFlight` at a time; a failed attempt is retried. */
function openAll(port: number, n: number, inFlight: number, sources: number): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  let started = 0;
  return new Promise((resolve) => {
    const openOne = (i: number) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}`, {
        perMessageDeflate: false,
        localAddress: `127.0.0.${1 + (i % sources)}`,
      });
      ws.once('open', () => {
        sockets.push(ws);
        if (sockets.length === n) resolve(sockets);
        else if (started < n) openOne(started++);
      });
      ws.once('error', () => openOne(i));
    };
    for (; started < Math.min(inFlight, n); ) openOne(started++);
  });
}
