import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** The nats-server installed by ./fleetwire setup, or one given explicitly. */
export function natsBinary(): string {
  const candidates = [process.env.FW_NATS_SERVER, path.join(REPO_ROOT, '.fleetwire/tools/bin/nats-server')];
  const found = candidates.find((c) => c && fs.existsSync(c));
  if (!found) throw new Error('nats-server not found: run ./fleetwire setup (or set FW_NATS_SERVER)');
  return found;
}

/** The node binary running this process (Node 24 from the project toolchain). */
export const NODE = process.execPath;
