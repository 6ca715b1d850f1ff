// The TypeScript half of ./fleetwire: runs and inspects the local stack. The bash half installs the toolchain.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { devicesCommand } from './devices.ts';
import { isAlive, stopPid } from './process.ts';
import { readStack, runStack, type StackInfo, simulatedFleetLines, stackPaths, summary } from './stack.ts';

const ROOT = process.env.FW_ROOT ?? path.resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const paths = stackPaths(ROOT);
const print = (line: string) => process.stdout.write(`${line}\n`);
// `./fleetwire devices list | head -1` closes the pipe early: that is success, not a crash.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

function runningStack(): StackInfo | undefined {
  const info = readStack(paths);
  return info && isAlive(info.supervisorPid) ? info : undefined;
}

async function up(args: string[]): Promise<number> {
  const existing = runningStack();
  if (existing) {
    print(`fleetwire is already running (supervisor pid ${existing.supervisorPid}); see ./fleetwire status`);
    return 1;
  }
  await down(true);
  if (args.includes('-d') || args.includes('--detach')) return upDetached();
  try {
    await runStack(paths, print, { simulate: !args.includes('--no-sim') });
  } catch (err) {
    print(`fleetwire up failed: ${(err as Error).message}`);
    await down(true);
    return 1;
  }
  return 0;
}

async function upDetached(): Promise<number> {
  fs.mkdirSync(paths.logs, { recursive: true });
  const logPath = path.join(paths.logs, 'stack.log');
  const out = fs.openSync(logPath, 'a');
  const { spawn } = await import('node:child_process');
  const forwarded = args.filter((a) => a !== '-d' && a !== '--detach');
  const child = spawn(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), 'up', ...forwarded],
    {
      detached: true,
      stdio: ['ignore', out, out],
      env: process.env,
    },
  );
  child.unref();
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const info = readStack(paths);
    if (info?.ready && info.supervisorPid === child.pid) {
      print(summary(info));
      print(`running in the background; combined logs: ./fleetwire logs (${logPath})`);
      return 0;
    }
    if (child.exitCode !== null || (child.pid && !isAlive(child.pid))) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  print(`fleetwire did not come up; last lines of ${logPath}:`);
  print(fs.readFileSync(logPath, 'utf8').split('\n').slice(-30).join('\n'));
  return 1;
}

async function down(quiet = false): Promise<number> {
  const info = readStack(paths);
  if (!info) {
    if (!quiet) print('fleetwire is not running');
    return 0;
  }
  if (isAlive(info.supervisorPid)) {
    if (!quiet) print(`stopping supervisor ${info.supervisorPid}`);
    await stopPid(info.supervisorPid, 60_000);
  }
  // Whatever the supervisor could not stop (it was killed, say) is stopped here, services first.
  if (info.simulatorPid) await stopPid(info.simulatorPid, 5_000);
  for (const s of info.services) await stopPid(s.pid, 20_000);
  await stopPid(info.nats.pid, 10_000);
  await stopPid(info.postgres.pid, 20_000, 'SIGINT');
  fs.rmSync(paths.stackFile, { force: true });
  if (!quiet) print('stopped');
  return 0;
}

async function probe(url: string): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.ok ? 'ready' : `not ready (${res.status}: ${await res.text()})`;
  } catch {
    return 'unreachable';
  }
}

async function status(args: string[]): Promise<number> {
  const info = runningStack();
  if (!info) {
    print('fleetwire is not running (./fleetwire up starts it)');
    return 3;
  }
  if (args.includes('--key')) {
    print(info.apiKey);
    return 0;
  }
  const pg = postgres(info.postgres.url, { max: 1, connect_timeout: 2, onnotice: () => {} });
  const pgState = await pg`select 1`.then(
    () => 'ready',
    (err: Error) => `unreachable (${err.message})`,
  );
  await pg.end({ timeout: 1 });
  const state = (pid: number) => (isAlive(pid) ? `pid ${pid}` : 'dead');
  print(`supervisor   pid ${info.supervisorPid}, up since ${info.startedAt}`);
  print(
    `nats-server  ${state(info.nats.pid)}  ${info.nats.url}  ${await probe(`${info.nats.monitorUrl}/healthz?js-enabled-only=true`)}`,
  );
  print(
    `postgres     ${state(info.postgres.pid)}  ${info.postgres.url.replace(/:[^:@/]+@/, ':***@')}  ${pgState}`,
  );
  for (const s of info.services) {
    print(`${s.name.padEnd(12)} ${state(s.pid)}  ${s.opsUrl}  ${await probe(`${s.opsUrl}/readyz`)}`);
    for (const e of s.endpoints) print(`${''.padEnd(12)} ${e}`);
  }
  if (info.simulatorPid) {
    print(`${'sim'.padEnd(12)} ${state(info.simulatorPid)}`);
    for (const line of simulatedFleetLines(info))
      print(`${''.padEnd(12)} ${line.trim().replace(/^simulated fleet\s+/, '')}`);
  }
  return 0;
}

async function logs(): Promise<number> {
  const logPath = path.join(paths.logs, 'stack.log');
  if (!fs.existsSync(logPath)) {
    print('no combined log yet (it is written by ./fleetwire up -d)');
    return 1;
  }
  const { spawn } = await import('node:child_process');
  const tail = spawn('tail', ['-n', '100', '-F', logPath], { stdio: 'inherit' });
  await new Promise((r) => tail.once('exit', r));
  return 0;
}

async function devices(args: string[]): Promise<number> {
  const info = runningStack();
  if (!info) {
    print('fleetwire is not running: start it with ./fleetwire up -d');
    return 3;
  }
  return devicesCommand(info.postgres.url, args, print);
}

const [command = 'help', ...args] = process.argv.slice(2);
const commands: Record<string, (args: string[]) => Promise<number>> = {
  up,
  down: () => down(),
  status,
  logs,
  devices,
  // The simulator is a package of its own; imported here so `./fleetwire sim` needs no second process.
  sim: async (args) => (await import('../../simulator/src/main.ts')).simCli(args),
};
const run = commands[command];
if (!run) {
  print(`unknown command ${command}`);
  process.exit(2);
}
process.exitCode = await run(args);
