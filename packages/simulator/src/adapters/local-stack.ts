import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** What the simulator needs from the stack file `./fleetwire up` writes (.fleetwire/state/stack.json). */
export interface LocalStack {
  postgresUrl: string;
  file: string;
}

/** Finds the running local stack the way packages/devstack does (FW_HOME, else FW_ROOT/.fleetwire). */
export function readLocalStack(): LocalStack | undefined {
  const root = process.env.FW_ROOT ?? path.resolve(fileURLToPath(new URL('../../../..', import.meta.url)));
  const home = process.env.FW_HOME ?? path.join(root, '.fleetwire');
  const file = path.join(home, 'state', 'stack.json');
  if (!fs.existsSync(file)) return undefined;
  const info = JSON.parse(fs.readFileSync(file, 'utf8')) as { postgres?: { url?: string } };
  const postgresUrl = info.postgres?.url;
  return postgresUrl ? { postgresUrl, file } : undefined;
}
