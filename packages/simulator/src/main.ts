// `./fleetwire sim`: a simulated fleet against the local stack (or any edge-tcp / edge-ws), until Ctrl-C.
import { createLogger } from '@fleetwire/runtime';
import { readLocalStack } from './adapters/local-stack.ts';
import { type Fleet, runFleet } from './fleet.ts';
import { type CliOptions, parseCliOptions, USAGE } from './options.ts';
import { startSummary } from './summary.ts';

const SUMMARY_EVERY_MS_TTY = 1_000;
const SUMMARY_EVERY_MS = 10_000;

export async function simCli(argv: string[]): Promise<number> {
  const err = (line: string) => process.stderr.write(`${line}\n`);
  let cli: CliOptions;
  try {
    cli = parseCliOptions(argv);
  } catch (e) {
    err(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (cli.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const log = createLogger('simulator', `sim-${process.pid}`, cli.logLevel);
  let register: { databaseUrl: string; tenant: string } | undefined;
  if (cli.register) {
    const databaseUrl = cli.databaseUrl ?? readLocalStack()?.postgresUrl;
    if (!databaseUrl) {
      err('--register needs the stack running (./fleetwire up -d) or --database-url');
      return 1;
    }
    register = { databaseUrl, tenant: cli.tenant };
  }
  // The key may come from the environment so that it does not show in the process list.
  const provisioningKey = cli.fleet.provisioningKey ?? process.env.FW_SIM_PROVISIONING_KEY;
  const input = {
    ...cli.fleet,
    log,
    ...(register ? { register } : {}),
    ...(provisioningKey ? { provisioningKey } : {}),
  };
  const fleet = await runFleet(input).catch((e: Error) => {
    err(`the fleet did not start: ${e.message}`);
    return undefined;
  });
  if (!fleet) return 1;
  err(`simulating ${describeFleet(fleet, register?.tenant)}; Ctrl-C stops`);
  const summary = startSummary(fleet, err, process.stderr.isTTY ? SUMMARY_EVERY_MS_TTY : SUMMARY_EVERY_MS);
  const stop = () => void fleet.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await fleet.done;
  summary.stop();
  return 0;
}

function describeFleet(fleet: Fleet, registeredIn: string | undefined): string {
  const parts: string[] = [];
  const t = fleet.trackers;
  if (t.length > 0 || fleet.wsDevices.length === 0) {
    parts.push(
      `${t.length} tracker(s)${t[0] ? ` (first IMEI ${t[0].id})` : ''}` +
        `${registeredIn ? `, registered in tenant ${registeredIn}` : ''}`,
    );
  }
  const g = fleet.wsDevices;
  if (g.length > 0) {
    const ids = g.length <= 5 ? g.map((d) => d.id).join(', ') : `${g[0]!.id} … ${g.at(-1)!.id}`;
    parts.push(`${g.length} WebSocket gateway(s) (${ids})`);
  }
  return parts.join(' and ');
}

if (import.meta.main) process.exit(await simCli(process.argv.slice(2)));
