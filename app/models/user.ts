import { BaseModel, beforeCreate, beforeSave, column } from '@adonisjs/lucid/orm'
import { compose } from '@adonisjs/core/helpers'
import hash from '@adonisjs/core/services/hash'
import { withAuthFinder } from '@adonisjs/auth/mixins/lucid'
import { now } from './json_column.js'

const AuthFinder = withAuthFinder(() => hash.use('argon'), {
  uids: ['email'],
  passwordColumnName: 'password',
})

export default class User extends compose(BaseModel, AuthFinder) {
  static table = 'users'

  @column({ isPrimary: true }) declare id: number
  @column() declare email: string
  @column() declare fullName: string | null
  @column({ consume: (v) => Boolean(v) }) declare isAdmin: boolean
  @column({ consume: (v) => Boolean(v) }) declare disabled: boolean
  @column({ serializeAs: null }) declare password: string | null
  @column() declare lastLoginAt: number | null
  /** Bumped to end every admin UI session of the user (web_auth_middleware compares it). */
  @column({ consume: (v) => Number(v ?? 0) }) declare sessionEpoch: number
  @column() declare createdAt: number
  @column() declare updatedAt: number

  @beforeCreate()
  static stampCreate(user: User) {
    user.createdAt = now()
  }

  @beforeSave()
  static stampUpdate(user: User) {
    user.updatedAt = now()
    // a new password or a disabled account ends the sessions made before (every node, cookies)
    if (user.$isPersisted && ('password' in user.$dirty || user.$dirty.disabled === true)) {
      user.sessionEpoch = (user.sessionEpoch ?? 0) + 1
    }
  }
}
