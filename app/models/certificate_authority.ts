import { BaseModel, beforeCreate, beforeSave, column } from '@adonisjs/lucid/orm'
import type { KeyType, HashName } from '../../hsm/types.js'
import type { SubjectDefaults } from '#services/template_options'
import { binaryColumn, jsonColumn, now } from './json_column.js'

export interface ServiceSettings {
  /** Key type for service certificates (OCSP responder, TSA); null = follow the CA's algorithm. */
  keyType: KeyType | null
  hash: HashName | null
}

export default class CertificateAuthority extends BaseModel {
  static table = 'cas'

  @column({ isPrimary: true }) declare id: number
  @column() declare name: string
  @column() declare status: 'active' | 'pending'
  @column() declare keyType: KeyType
  @column({ serializeAs: null }) declare keyRef: string
  @column({ serializeAs: null }) declare keyMaterial: string | null
  @column(jsonColumn) declare subject: SubjectDefaults
  @column() declare subjectDn: string
  @column({ ...binaryColumn, serializeAs: null }) declare certificate: Buffer | null
  @column({ ...binaryColumn, serializeAs: null }) declare csr: Buffer | null
  @column({ ...jsonColumn, serializeAs: null }) declare chain: string[]
  @column() declare signatureHash: HashName
  @column() declare validityDays: number
  @column() declare pathLength: number | null
  @column(jsonColumn) declare keyUsage: string[]
  @column(jsonColumn) declare extKeyUsage: string[]
  @column() declare cpsUrl: string | null
  @column() declare policyOid: string | null
  @column(jsonColumn) declare serviceSettings: ServiceSettings
  @column(jsonColumn) declare pluginSettings: Record<string, unknown>
  @column({ consume: (v) => Boolean(v) }) declare selfSigned: boolean
  @column() declare serial: string | null
  @column() declare ski: string | null
  @column() declare notBefore: number | null
  @column() declare notAfter: number | null
  @column() declare createdBy: number | null
  @column() declare createdAt: number
  @column() declare updatedAt: number

  @beforeCreate()
  static stampCreate(ca: CertificateAuthority) {
    ca.createdAt = now()
  }

  @beforeSave()
  static stampUpdate(ca: CertificateAuthority) {
    ca.updatedAt = Math.max(now(), (ca.$original.updatedAt ?? 0) + 1)
  }
}
