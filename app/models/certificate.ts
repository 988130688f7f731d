import { BaseModel, column } from '@adonisjs/lucid/orm'
import { binaryColumn, jsonColumn } from './json_column.js'

export type RevocationReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'cACompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'privilegeWithdrawn'
  | 'aACompromise'

export default class Certificate extends BaseModel {
  static table = 'certificates'

  @column({ isPrimary: true }) declare id: number
  @column() declare caId: number
  @column() declare templateId: number | null
  @column() declare requestId: number | null
  @column() declare serial: string
  @column() declare kind: string
  @column() declare subjectDn: string
  @column() declare commonName: string | null
  @column(jsonColumn) declare sans: Array<{ type: string; value: string }>
  @column() declare keyType: string
  @column() declare notBefore: number
  @column() declare notAfter: number
  @column() declare status: 'valid' | 'hold' | 'revoked'
  @column() declare revokedAt: number | null
  @column() declare revocationReason: RevocationReason | null
  @column({ ...binaryColumn, serializeAs: null }) declare der: Buffer
  @column() declare fingerprint: string
  @column() declare issuedBy: string | null
  @column({ consume: (v) => Boolean(v) }) declare listedAfterExpiry: boolean
  @column() declare createdAt: number
}
