import fs from 'node:fs';
import path from 'node:path';

/** How `./fleetwire up` runs one service; declared in the service's package.json under "fleetwire". */
export interface ServiceManifest {
  name: string;
  dir: string;
  entry: string;
  /** Extra command-line arguments. */
  args?: string[];
  /** Port of the service's /healthz, /readyz and /metrics. */
  httpPort: number;
  /** Start order: lower first. */
  order: number;
  /** Extra environment for the local stack, e.g. the port a gateway listens on. */
  env: Record<string, string>;
  /** Lines printed in the "where is everything" summary, e.g. "devices (Teltonika TCP): 127.0.0.1:5027". */
  endpoints: string[];
}

interface PackageJson {
  name?: string;
  fleetwire?: {
    service?: {
      httpPort: number;
      order?: number;
      entry?: string;
      env?: Record<string, string>;
      endpoints?: string[];
    };
  };
}

/** Every folder under services/ with a "fleetwire.service" block: adding a service needs no list edit. */
export function discoverServices(root: string): ServiceManifest[] {
  const servicesDir = path.join(root, 'services');
  if (!fs.existsSync(servicesDir)) return [];
  const found: ServiceManifest[] = [];
  for (const name of fs.readdirSync(servicesDir).sort()) {
    const pkgFile = path.join(servicesDir, name, 'package.json');
    if (!fs.existsSync(pkgFile)) continue;
    const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as PackageJson;
    const svc = pkg.fleetwire?.service;
    if (!svc) continue;
    found.push({
      name,
      dir: path.dirname(pkgFile),
      entry: path.join(path.dirname(pkgFile), svc.entry ?? 'src/main.ts'),
      httpPort: svc.httpPort,
      order: svc.order ?? 100,
      env: svc.env ?? {},
      endpoints: svc.endpoints ?? [],
    });
  }
  return found.sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));
}
