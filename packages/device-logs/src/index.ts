export type { DeviceLogStoreOptions, OpenedLog, StoredLog, StoreLogInput } from './device-log-store.ts';
export { cleanContentType, cleanFileName, DeviceLogStore, objectNameOf } from './device-log-store.ts';
export type { DeviceLogErrorCode } from './errors.ts';
export {
  DEVICE_LOG_ERROR,
  DeviceLogError,
  InvalidCursorError,
  LogTooLargeError,
  UnknownDeviceError,
} from './errors.ts';
export type { DeviceLog, LogPage } from './log-index.ts';
export type { LogSource } from './metered-source.ts';
