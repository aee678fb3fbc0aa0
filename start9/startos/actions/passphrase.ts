import { sdk } from '../sdk'
import { uiPort } from '../utils'

const { InputSpec, Value } = sdk

export const passphraseSpec = InputSpec.of({
  username: Value.text({
    name: 'Admin username',
    description: 'An igloo admin user (the one created with the setup code).',
    required: true,
    default: null,
  }),
  password: Value.text({
    name: 'Admin password',
    required: true,
    default: null,
    masked: true,
  }),
  passphrase: Value.text({
    name: 'New owner passphrase',
    description:
      'At least 8 characters. Leave empty to remove the passphrase: igloo then signs again after a restart without anyone unlocking it.',
    required: false,
    default: null,
    masked: true,
    minLength: 8,
  }),
})

type Answer = { ok: boolean; status: number; body: Record<string, unknown> }

async function call(
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  // The action runs in the service's container, beside igloo (plain HTTP on loopback).
  const res = await fetch(`http://127.0.0.1:${uiPort}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })
  const json: unknown = await res.json().catch(() => ({}))
  const obj =
    typeof json === 'object' && json !== null
      ? (json as Record<string, unknown>)
      : {}
  return { ok: res.ok, status: res.status, body: obj }
}

function failure(what: string, a: Answer) {
  const why = typeof a.body.error === 'string' ? a.body.error : `HTTP ${a.status}`
  return {
    version: '1' as const,
    title: what,
    message: why,
    result: null,
  }
}

/**
 * Sets or removes the owner passphrase that wraps the device key. With a passphrase igloo
 * starts locked after every restart and signs nothing until unlocked in the web UI. The
 * action logs in as the given admin (POST /api/auth/login), changes the passphrase
 * (POST /api/admin/passphrase) and logs out; nothing is stored.
 */
export const setPassphrase = sdk.Action.withInput(
  'set-passphrase',
  {
    name: 'Set or remove owner passphrase',
    description:
      'Protects the signing share with a passphrase (igloo then waits to be unlocked in the web UI after each restart), or removes it.',
    warning:
      'With a passphrase, igloo signs nothing after a restart until someone unlocks it. A forgotten passphrase cannot be recovered: keep a backup of your share.',
    allowedStatuses: 'only-running',
    group: null,
    visibility: 'enabled',
  },
  passphraseSpec,
  async () => null,
  async ({ input }) => {
    const login = await call('/api/auth/login', {
      username: input.username,
      password: input.password,
    })
    const sid = login.body.sessionId
    if (!login.ok || typeof sid !== 'string') {
      return failure('Login failed', login)
    }
    const session = { 'x-session-id': sid }
    try {
      const set = await call(
        '/api/admin/passphrase',
        { passphrase: input.passphrase ?? null },
        session,
      )
      if (!set.ok) return failure('Passphrase not changed', set)
      return {
        version: '1',
        title: set.body.hasPassphrase ? 'Passphrase set' : 'Passphrase removed',
        message: set.body.hasPassphrase
          ? 'igloo will wait to be unlocked in the web UI after each restart.'
          : 'igloo signs again after a restart without being unlocked.',
        result: null,
      }
    } finally {
      await call('/api/auth/logout', {}, session).catch(() => undefined)
    }
  },
)
