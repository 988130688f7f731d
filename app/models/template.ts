import { BaseModel, beforeCreate, beforeSave, column } from '@adonisjs/lucid/orm'
import type { TemplateOptions } from '#services/template_options'
import { jsonColumn, now } from './json_column.js'

export default class Template extends BaseModel {
  static table = 'templates'

  @column({ isPrimary: true }) declare id: number
  @column() declare caId: number
  @column() declare name: string
  @column() declare starter: string | null
  @column(jsonColumn) declare options: TemplateOptions
  @column(jsonColumn) declare pluginSettings: Record<string, unknown>
  @column() declare createdAt: number
  @column() declare updatedAt: number

  @beforeCreate()
  static stampCreate(t: Template) {
    t.createdAt = now()
  }

  @beforeSave()
  static stampUpdate(t: Template) {
    t.updatedAt = Math.max(now(), (t.$original.updatedAt ?? 0) + 1)
  }
}
