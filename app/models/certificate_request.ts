import { BaseModel, beforeCreate, column } from '@adonisjs/lucid/orm'
import { binaryColumn, jsonColumn, now } from './json_column.js'

export default class CertificateRequest extends BaseModel {
  static table = 'certificate_requests'

  @column({ isPrimary: true }) declare id: number
  @column() declare caId: number
  @column() declare templateId: number
  @column() declare status: 'pending' | 'signing' | 'issued' | 'declined'
  @column({ ...binaryColumn, serializeAs: null }) declare csr: Buffer
  @column() declare subjectDn: string
  @column(jsonColumn) declare sans: Array<{ type: string; value: string }>
  @column() declare keyType: string
  @column() declare source: string
  @column() declare requestedBy: string | null
  @column() declare requesterIp: string | null
  @column() declare certificateId: number | null
  @column() declare decidedBy: string | null
  @column() declare decidedAt: number | null
  @column() declare declineReason: string | null
  @column() declare createdAt: number

  @beforeCreate()
  static stampCreate(r: CertificateRequest) {
    r.createdAt = now()
  }
}
