import {
  type ConsumerSpec,
  type JetStreamTopology,
  type KvBucketKey,
  type ObjectStoreKey,
  type StreamKey,
  toConsumerConfig,
  toKvOptions,
  toObjectStoreOptions,
  toStreamConfig,
} from '@fleetwire/protocol';
import type { Provisioning } from './nats.ts';

/** Turns the protocol's stream, consumer, bucket and object store definitions into what `provision()` creates. */
export function provisioningFor(
  topology: JetStreamTopology,
  want: {
    streams?: StreamKey[];
    consumers?: ConsumerSpec[];
    kv?: KvBucketKey[];
    objectStores?: ObjectStoreKey[];
  },
): Provisioning {
  return {
    streams: (want.streams ?? []).map((key) => toStreamConfig(topology.streams[key])),
    consumers: (want.consumers ?? []).map((spec) => ({
      stream: spec.streamName,
      config: toConsumerConfig(spec),
    })),
    kv: (want.kv ?? []).map((key) => ({
      bucket: topology.kv[key].bucket,
      options: toKvOptions(topology.kv[key]),
    })),
    objectStores: (want.objectStores ?? []).map((key) => ({
      bucket: topology.objectStores[key].bucket,
      options: toObjectStoreOptions(topology.objectStores[key]),
    })),
  };
}
