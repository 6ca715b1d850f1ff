/** Fleet-wide counters every device reports into; cheap enough to bump on every packet. */
export class FleetStats {
  /** Trackers logged in right now. */
  connected = 0;
  /** WebSocket gateways online right now (their control/accept received). */
  wsConnected = 0;
  /** Gateway messages (telemetry, state, command results) sent for the first time. */
  messages = 0;
  /** control/ack received: gateway messages the edge has stored durably. */
  messageAcks = 0;
  /** Gateway session starts or upgrades refused (401/403 and the like). */
  sessionsRefused = 0;
  /** Records sent for the first time (resends are counted apart). */
  records = 0;
  /** Record-count replies that acknowledged a packet. */
  acks = 0;
  ackedRecords = 0;
  /** Packets sent again because no reply came in time, or after a reconnect. */
  resends = 0;
  /** Commands answered, by trackers and gateways. */
  commands = 0;
  /** Successful logins (or accepted connections) after a device's first one. */
  reconnects = 0;
  loginsRefused = 0;
  /** Connections dropped on purpose: --faults for trackers, changed_parameters for gateways. */
  faults = 0;
  /** Records dropped because a device's buffer was full while it could not send. */
  dropped = 0;

  snapshot(): StatsSnapshot {
    return {
      at: Date.now(),
      connected: this.connected,
      wsConnected: this.wsConnected,
      messages: this.messages,
      messageAcks: this.messageAcks,
      sessionsRefused: this.sessionsRefused,
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

/** How many devices of each kind the fleet has. */
export interface FleetSize {
  trackers: number;
  wsDevices: number;
}

/**
 * One summary line covering both kinds; rates are per second over the time between the two
 * snapshots. A kind the fleet does not have is left out.
 */
export function formatSummary(size: FleetSize, previous: StatsSnapshot, current: StatsSnapshot): string {
  const seconds = Math.max(0.001, (current.at - previous.at) / 1000);
  const rate = (key: 'records' | 'acks' | 'messages') =>
    ((current[key] - previous[key]) / seconds).toFixed(1);
  const parts: string[] = [];
  if (size.trackers > 0) {
    parts.push(
      `trackers ${current.connected}/${size.trackers}`,
      `${rate('records')} records/s`,
      `${rate('acks')} acks/s`,
    );
  }
  if (size.wsDevices > 0) {
    parts.push(`ws ${current.wsConnected}/${size.wsDevices}`, `${rate('messages')} messages/s`);
  }
  parts.push(
    `commands ${current.commands}`,
    `reconnects ${current.reconnects}`,
    `resends ${current.resends}`,
  );
  if (current.loginsRefused) parts.push(`logins refused ${current.loginsRefused}`);
  if (current.sessionsRefused) parts.push(`sessions refused ${current.sessionsRefused}`);
  if (current.faults) parts.push(`faults ${current.faults}`);
  if (current.dropped) parts.push(`dropped ${current.dropped}`);
  return parts.join(' | ');
}
