// `./fleetwire sim`: a simulated fleet against the local stack (or any edge-tcp), until Ctrl-C.
import { createLogger } from '@fleetwire/runtime';
import { readLocalStack } from './adapters/local-stack.ts';
import { runFleet } from './fleet.ts';
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
  const fleet = await runFleet({ ...cli.fleet, log, ...(register ? { register } : {}) }).catch((e: Error) => {
    err(`the fleet did not start: ${e.message}`);
    return undefined;
  });
  if (!fleet) return 1;
  const f = fleet.trackers[0];
  err(
    `simulating ${fleet.devices.length} tracker(s)${f ? ` (first IMEI ${f.id})` : ''}` +
      `${register ? `, registered in tenant ${register.tenant}` : ''}; Ctrl-C stops`,
  );
  const summary = startSummary(fleet, err, process.stderr.isTTY ? SUMMARY_EVERY_MS_TTY : SUMMARY_EVERY_MS);
  const stop = () => void fleet.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await fleet.done;
  summary.stop();
  return 0;
}

if (import.meta.main) process.exit(await simCli(process.argv.slice(2)));
