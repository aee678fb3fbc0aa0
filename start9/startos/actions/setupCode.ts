import { sdk } from '../sdk'
import { dataDir, igloo, iglooEnv, iglooUser } from '../utils'

/**
 * Shows a fresh one-time setup code (`igloo setup-code`): the web UI asks for it once to create
 * the first admin. It replaces any earlier code; igloo refuses once an admin exists. Only the
 * code's hash is written to the data volume, and this result is the only place it is shown.
 */
export const showSetupCode = sdk.Action.withoutInput(
  'show-setup-code',
  {
    name: 'Show setup code',
    description:
      'Shows a one-time code that the web UI asks for to create the first admin user. A new code replaces the previous one; once an admin exists no code is issued.',
    warning: null,
    allowedStatuses: 'only-running',
    group: null,
    visibility: 'enabled',
  },
  async ({ effects }) => {
    const mounts = sdk.Mounts.of().mountVolume({
      volumeId: 'main',
      subpath: null,
      mountpoint: dataDir,
      readonly: false,
    })
    const res = await sdk.SubContainer.withTemp(
      effects,
      { imageId: 'igloo' },
      mounts,
      'igloo-setup-code',
      (sub) =>
        sub.exec([igloo, 'setup-code'], {
          env: iglooEnv,
          user: iglooUser,
          cwd: dataDir,
        }),
    )
    const code = res.stdout.toString().trim()
    if (res.exitCode !== 0 || !code) {
      return {
        version: '1',
        title: 'No setup code',
        message: res.stderr.toString().trim() || 'igloo setup-code failed',
        result: null,
      }
    }
    return {
      version: '1',
      title: 'Setup code',
      message:
        'Open the web UI (Interfaces → Web UI and API) and enter this code to create the first admin user. It works once.',
      result: {
        type: 'single',
        value: code,
        copyable: true,
        qr: false,
        masked: true,
      },
    }
  },
)
