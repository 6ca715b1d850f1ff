import postgres from 'postgres';

const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** `./fleetwire devices add <id>... | list`: the operator's way to manage the registry of the local stack. */
export async function devicesCommand(
  databaseUrl: string,
  args: string[],
  print: (s: string) => void,
): Promise<number> {
  const [sub, ...rest] = args;
  const tenant = takeOption(rest, '--tenant') ?? 'default';
  const kind = takeOption(rest, '--kind') ?? 'tracker';
  if (!['tracker', 'ws'].includes(kind)) {
    print(`--kind must be tracker or ws, got ${kind}`);
    return 2;
  }
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    if (sub === 'add') {
      const bad = rest.filter((id) => !ID.test(id));
      if (rest.length === 0 || bad.length > 0) {
        print(
          bad.length ? `not a valid device id: ${bad.join(', ')}` : 'usage: ./fleetwire devices add <id>...',
        );
        return 2;
      }
      const rows = rest.map((id) => ({ tenant_id: tenant, id, kind }));
      const added = await sql`
        insert into devices ${sql(rows, 'tenant_id', 'id', 'kind')}
        on conflict (tenant_id, id) do nothing returning id`;
      print(
        `registered ${added.length} new device(s) in tenant ${tenant}; ${rest.length - added.length} already known`,
      );
      return 0;
    }
    if (sub === 'list') {
      const rows = await sql`
        select d.id, d.kind, p.state, p.changed_at, s.device_time
        from devices d
        left join device_presence p on p.tenant_id = d.tenant_id and p.device_id = d.id
        left join device_state s on s.tenant_id = d.tenant_id and s.device_id = d.id
        where d.tenant_id = ${tenant} order by d.id`;
      for (const r of rows) {
        print(
          `${String(r.id).padEnd(20)} ${String(r.kind).padEnd(8)} ${String(r.state ?? 'never seen').padEnd(11)} last record ${r.device_time?.toISOString() ?? '-'}`,
        );
      }
      print(`${rows.length} device(s)`);
      return 0;
    }
    print('usage: ./fleetwire devices add <id>... [--tenant T] [--kind tracker|ws] | list [--tenant T]');
    return 2;
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') {
      print('the registry does not exist yet: a service creates it when it first starts');
      return 1;
    }
    throw err;
  } finally {
    await sql.end();
  }
}

function takeOption(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const value = args[i + 1];
  args.splice(i, 2);
  return value;
}
