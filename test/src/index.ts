export type { TestEnv } from './env.ts';
export { connectTestNats, createTestEnv, testSql } from './env.ts';
export type { SpawnedService } from './spawn.ts';
export { spawnService } from './spawn.ts';
export { NODE, natsBinary, REPO_ROOT } from './tools.ts';
export { TrackerClient } from './tracker-client.ts';
