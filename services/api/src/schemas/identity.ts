import Type from 'typebox';
import { IsoTime } from './common.ts';

export const ProvisioningKey = Type.Object({ id: Type.String(), name: Type.String(), createdAt: IsoTime });

export const CreatedProvisioningKey = Type.Object({
  ...ProvisioningKey.properties,
  key: Type.String({ description: 'shown once; only its SHA-256 is stored' }),
});

export const CreateProvisioningKeyBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);

export const RevokedSessions = Type.Object({
  revoked: Type.Integer({ description: 'sessions that were live and are now revoked' }),
});
