import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** What the simulator needs from the stack file `./fleetwire up` writes (.fleetwire/state/stack.json). */
export interface LocalStack {
  postgresUrl: string;
  file: string;
}

/** The local stack's state folder, found the way packages/devstack does (FW_HOME, else FW_ROOT/.fleetwire). */
function stateDir(): string {
  const root = process.env.FW_ROOT ?? path.resolve(fileURLToPath(new URL('../../../..', import.meta.url)));
  return path.join(process.env.FW_HOME ?? path.join(root, '.fleetwire'), 'state');
}

/** Where the simulator keeps what must outlive a run: gateway credentials and JSON logs. */
export function simulatorStateDir(): string {
  return path.join(stateDir(), 'simulator');
}

export function readLocalStack(): LocalStack | undefined {
  const file = path.join(stateDir(), 'stack.json');
  if (!fs.existsSync(file)) return undefined;
  const info = JSON.parse(fs.readFileSync(file, 'utf8')) as { postgres?: { url?: string } };
  const postgresUrl = info.postgres?.url;
  return postgresUrl ? { postgresUrl, file } : undefined;
}
