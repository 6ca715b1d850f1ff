/** Fleet-wide counters every device reports into; cheap enough to bump on every packet. */
export class FleetStats {
  /** Devices logged in right now. */
  connected = 0;
  /** Records sent for the first time (resends are counted apart). */
  records = 0;
  /** Record-count replies that acknowledged a packet. */
  acks = 0;
  ackedRecords = 0;
  /** Packets sent again because no reply came in time, or after a reconnect. */
  resends = 0;
  commands = 0;
  /** Successful logins after a device's first one. */
  reconnects = 0;
  loginsRefused = 0;
  /** Connections dropped on purpose by --faults. */
  faults = 0;
  /** Records dropped because a device's buffer was full while it could not send. */
  dropped = 0;

  snapshot(): StatsSnapshot {
    return {
      at: Date.now(),
      connected: this.connected,
      records: this.records,
      acks: this.acks,
      ackedRecords: this.ackedRecords,
      resends: this.resends,
      commands: this.commands,
      reconnects: this.reconnects,
      loginsRefused: this.loginsRefused,
      faults: this.faults,
      dropped: this.dropped,
    };
  }
}

export type StatsSnapshot = {
  readonly [K in keyof Omit<FleetStats, 'snapshot'>]: number;
} & { readonly at: number };

/** One summary line; rates are per second over the time between the two snapshots. */
export function formatSummary(devices: number, previous: StatsSnapshot, current: StatsSnapshot): string {
  const seconds = Math.max(0.001, (current.at - previous.at) / 1000);
  const rate = (key: 'records' | 'acks') => ((current[key] - previous[key]) / seconds).toFixed(1);
  const parts = [
    `connected ${current.connected}/${devices}`,
    `${rate('records')} records/s`,
    `${rate('acks')} acks/s`,
    `commands ${current.commands}`,
    `reconnects ${current.reconnects}`,
    `resends ${current.resends}`,
  ];
  if (current.loginsRefused) parts.push(`logins refused ${current.loginsRefused}`);
  if (current.faults) parts.push(`faults ${current.faults}`);
  if (current.dropped) parts.push(`dropped ${current.dropped}`);
  return parts.join(' | ');
}
