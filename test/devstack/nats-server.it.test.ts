/** How the dev stack, the tests and the benches start nats-server: its scheduler threads. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { natsGomaxprocs, type RunningNats, startNats } from '@fleetwire/devstack';
import { afterEach, describe, expect, it } from 'vitest';
import { natsBinary } from '../src/index.ts';

/** The GOMAXPROCS a running process was started with, from /proc. */
function gomaxprocsOf(pid: number): string | undefined {
  const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  return environ.find((entry) => entry.startsWith('GOMAXPROCS='))?.slice('GOMAXPROCS='.length);
}

describe('natsGomaxprocs', () => {
  it('gives nats-server half the cores, at least one', () => {
    expect(natsGomaxprocs(1, {})).toBe('1');
    expect(natsGomaxprocs(2, {})).toBe('1');
    expect(natsGomaxprocs(3, {})).toBe('1');
    expect(natsGomaxprocs(8, {})).toBe('4');
  });

  it('leaves a GOMAXPROCS from the environment as it is', () => {
    expect(natsGomaxprocs(2, { GOMAXPROCS: '2' })).toBe('2');
    expect(natsGomaxprocs(8, { GOMAXPROCS: ' ' })).toBe('4');
  });
});

describe('startNats', () => {
  let running: RunningNats | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await running?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    running = dir = undefined;
  });

  it.runIf(process.platform === 'linux')(
    'starts nats-server with the GOMAXPROCS it chose, or the one asked for',
    async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-nats-procs-'));
      running = await startNats({ binary: natsBinary(), dir });
      expect(gomaxprocsOf(running.process.pid)).toBe(natsGomaxprocs(os.availableParallelism(), process.env));
      await running.stop();

      running = await startNats({ binary: natsBinary(), dir, gomaxprocs: 3 });
      expect(gomaxprocsOf(running.process.pid)).toBe('3');
    },
  );
});
