import type { Sql } from '@fleetwire/runtime';
import type postgres from 'postgres';
import type {
  CreateDeviceBody,
  Device,
  DeviceDetail,
  DeviceKind,
  LatestState,
  PatchDeviceBody,
  Presence,
} from '../schemas/devices.ts';

type Row = postgres.Row;

export interface DeviceFilter {
  kind?: string;
  tag?: string;
  state?: 'online' | 'offline';
  idPrefix?: string;
  /** Exclusive: rows after this id (keyset paging by id). */
  afterId?: string;
  limit: number;
}

const iso = (d: Date) => d.toISOString();

/** The position columns shared by `telemetry` and `device_state` rows. */
export function positionColumns(
  r: Row,
): Pick<LatestState, 'latitude' | 'longitude' | 'altitude' | 'angle' | 'satellites' | 'speed'> {
  return {
    latitude: r.latitude,
    longitude: r.longitude,
    altitude: r.altitude,
    angle: r.angle,
    satellites: r.satellites,
    speed: r.speed,
  };
}

function presenceView(r: Row): Presence | null {
  if (r.p_state == null) return null;
  return {
    state: r.p_state,
    since: iso(r.p_changed_at),
    edgeId: r.p_edge_id,
    transport: r.p_transport,
    remoteAddress: r.p_remote_address ?? null,
    reason: r.p_reason ?? null,
  };
}

export function stateView(r: Row): LatestState {
  return {
    deviceTime: iso(r.device_time),
    receivedAt: iso(r.received_at),
    ...positionColumns(r),
    attributes: r.attributes,
    updatedAt: iso(r.updated_at),
  };
}

function deviceView(r: Row): Device {
  return {
    id: r.id,
    kind: r.kind,
    name: r.name,
    tags: r.tags,
    metadata: r.metadata,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
    online: r.p_state === 'online',
    presence: presenceView(r),
  };
}

/** The device registry (table `devices`) joined with presence and latest state; every query is per tenant. */
export class DeviceStore {
  readonly #sql: Sql;
  constructor(sql: Sql) {
    this.#sql = sql;
  }

  #select(tenant: string) {
    const sql = this.#sql;
    return sql`
      select d.*, p.state as p_state, p.changed_at as p_changed_at, p.edge_id as p_edge_id,
             p.transport as p_transport, p.remote_address as p_remote_address, p.reason as p_reason
      from devices d
      left join device_presence p on p.tenant_id = d.tenant_id and p.device_id = d.id
      where d.tenant_id = ${tenant}`;
  }

  /** Undefined when the id is taken. `credentialHash`: the device's first credential (WebSocket devices). */
  async create(tenant: string, body: CreateDeviceBody, credentialHash?: string): Promise<Device | undefined> {
    const sql = this.#sql;
    const rows = await sql`
      insert into devices (tenant_id, id, kind, name, tags, metadata, credential_hash, credential_issued_at)
      values (${tenant}, ${body.id}, ${body.kind}, ${body.name ?? null}, ${body.tags ?? []}::text[],
              ${sql.json((body.metadata ?? {}) as postgres.JSONValue)},
              ${credentialHash ?? null}, ${credentialHash ? sql`now()` : null})
      on conflict (tenant_id, id) do nothing
      returning *`;
    return rows[0] ? deviceView(rows[0]) : undefined;
  }

  /** With what the device reported (identity) and when its credential was issued; never the hash. */
  async get(tenant: string, id: string): Promise<DeviceDetail | undefined> {
    const sql = this.#sql;
    const [row] = await sql`${this.#select(tenant)} and d.id = ${id}`;
    if (!row) return undefined;
    const [state] = await sql`select * from device_state where tenant_id = ${tenant} and device_id = ${id}`;
    return {
      ...deviceView(row),
      identity: row.identity,
      credentialIssuedAt: row.credential_issued_at ? iso(row.credential_issued_at) : null,
      latestState: state ? stateView(state) : null,
    };
  }

  async kindOf(tenant: string, id: string): Promise<DeviceKind | undefined> {
    const sql = this.#sql;
    const [row] = await sql`select kind from devices where tenant_id = ${tenant} and id = ${id}`;
    return row?.kind;
  }

  /**
   * Replaces a WebSocket device's credential (the old one stops working with this commit).
   * Undefined when there is no WebSocket device of that id.
   */
  async replaceCredential(tenant: string, id: string, credentialHash: string): Promise<string | undefined> {
    const sql = this.#sql;
    const [row] = await sql`
      update devices set credential_hash = ${credentialHash}, credential_issued_at = now(), updated_at = now()
      where tenant_id = ${tenant} and id = ${id} and kind = 'ws'
      returning credential_issued_at`;
    return row ? iso(row.credential_issued_at) : undefined;
  }

  async exists(tenant: string, id: string): Promise<boolean> {
    const sql = this.#sql;
    return (await sql`select 1 from devices where tenant_id = ${tenant} and id = ${id}`).length > 0;
  }

  /** Returns up to `limit + 1` devices ordered by id, so the caller can tell whether more follow. */
  async list(tenant: string, f: DeviceFilter): Promise<Device[]> {
    const sql = this.#sql;
    const rows = await sql`
      ${this.#select(tenant)}
      ${f.kind ? sql`and d.kind = ${f.kind}` : sql``}
      ${f.tag ? sql`and d.tags @> ${[f.tag]}::text[]` : sql``}
      ${f.state === 'online' ? sql`and p.state = 'online'` : sql``}
      ${f.state === 'offline' ? sql`and p.state is distinct from 'online'` : sql``}
      ${f.idPrefix ? sql`and starts_with(d.id, ${f.idPrefix})` : sql``}
      ${f.afterId ? sql`and d.id > ${f.afterId}` : sql``}
      order by d.id
      limit ${f.limit + 1}`;
    return rows.map(deviceView);
  }

  async update(tenant: string, id: string, patch: PatchDeviceBody): Promise<boolean> {
    const sql = this.#sql;
    const rows = await sql`
      update devices set
        name = ${patch.name === undefined ? sql`name` : patch.name},
        tags = ${patch.tags === undefined ? sql`tags` : patch.tags}::text[],
        metadata = ${patch.metadata === undefined ? sql`metadata` : sql.json(patch.metadata as postgres.JSONValue)},
        updated_at = now()
      where tenant_id = ${tenant} and id = ${id}
      returning id`;
    return rows.length > 0;
  }

  async delete(tenant: string, id: string): Promise<boolean> {
    const sql = this.#sql;
    return (
      (await sql`delete from devices where tenant_id = ${tenant} and id = ${id} returning id`).length > 0
    );
  }

  async latestState(tenant: string, id: string): Promise<LatestState | undefined> {
    const sql = this.#sql;
    const [row] = await sql`select * from device_state where tenant_id = ${tenant} and device_id = ${id}`;
    return row ? stateView(row) : undefined;
  }
}
