import { BaseModel, beforeCreate, beforeSave, column } from '@adonisjs/lucid/orm'
import { now } from './json_column.js'

export default class User extends BaseModel {
  static table = 'users'

  @column({ isPrimary: true }) declare id: number
  @column() declare email: string
  @column() declare fullName: string | null
  @column({ consume: (v) => Boolean(v) }) declare isAdmin: boolean
  @column({ serializeAs: null }) declare password: string | null
  @column() declare createdAt: number
  @column() declare updatedAt: number

  @beforeCreate()
  static stampCreate(user: User) {
    user.createdAt = now()
  }

  @beforeSave()
  static stampUpdate(user: User) {
    user.updatedAt = now()
  }
}
