import Type from 'typebox';
import { IsoTime, PageQuery, Token } from './common.ts';

export const DeviceLog = Type.Object({
  id: Type.String(),
  deviceId: Type.String(),
  fileName: Type.String(),
  contentType: Type.String(),
  sizeBytes: Type.Integer(),
  sha256: Type.String({ description: 'hex SHA-256 of the bytes' }),
  createdAt: IsoTime,
});

export const DeviceLogParams = Type.Object({ id: Token('device id'), logId: Token('log id') });

export const ListLogsQuery = Type.Object({ ...PageQuery }, { additionalProperties: false });
