import postgres from 'postgres';

/** postgres.js allows 65534 parameters per statement; three per row. */
const ROWS_PER_INSERT = 10_000;

/**
 * Inserts the fleet's IMEIs into the device registry of the stack's database (as
 * `./fleetwire devices add` does); devices already there are left alone.
 */
export async function registerTrackers(
  databaseUrl: string,
  tenant: string,
  imeis: readonly string[],
): Promise<{ added: number }> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const [known] = await sql`select 1 from tenants where id = ${tenant}`;
    if (!known) throw new Error(`tenant ${tenant} does not exist in the registry`);
    let added = 0;
    for (let i = 0; i < imeis.length; i += ROWS_PER_INSERT) {
      const rows = imeis
        .slice(i, i + ROWS_PER_INSERT)
        .map((id) => ({ tenant_id: tenant, id, kind: 'tracker' }));
      const inserted = await sql`
        insert into devices ${sql(rows, 'tenant_id', 'id', 'kind')}
        on conflict (tenant_id, id) do nothing returning id`;
      added += inserted.length;
    }
    return { added };
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') {
      throw new Error('the registry does not exist yet: start the stack (./fleetwire up) first', {
        cause: err,
      });
    }
    throw err;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
