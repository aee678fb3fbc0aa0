import { sdk } from './sdk'
import { dataDir, igloo, iglooEnv, iglooUser, sigtermTimeout } from './utils'

export const main = sdk.setupMain(async ({ effects }) => {
  const mounts = sdk.Mounts.of().mountVolume({
    volumeId: 'main',
    subpath: null,
    mountpoint: dataDir,
    readonly: false,
  })
  // The volume comes up owned by root; only this oneshot runs as root, to hand it to igloo.
  const prepare = sdk.SubContainer.of(effects, { imageId: 'igloo' }, mounts, 'igloo-prepare')
  const sub = sdk.SubContainer.of(effects, { imageId: 'igloo' }, mounts, 'igloo')

  return sdk.Daemons.of(effects)
    .addOneshot('data-owner', {
      subcontainer: prepare,
      exec: {
        command: ['chown', '-R', `${iglooUser}:${iglooUser}`, dataDir],
        user: 'root',
      },
      requires: [],
    })
    .addDaemon('primary', {
      subcontainer: sub,
      exec: {
        command: [igloo, 'serve'],
        env: iglooEnv,
        user: iglooUser,
        cwd: dataDir,
        sigtermTimeout,
      },
      ready: {
        display: 'Web interface',
        // `igloo healthcheck` asks GET /api/status with the daemon's own settings (port, TLS).
        fn: async () => {
          const res = await sub.exec([igloo, 'healthcheck'], {
            env: iglooEnv,
            user: iglooUser,
          })
          return res.exitCode === 0
            ? { result: 'success', message: 'igloo answers GET /api/status' }
            : {
                result: 'failure',
                message:
                  res.stderr.toString().trim() ||
                  'igloo does not answer GET /api/status',
              }
        },
      },
      requires: ['data-owner'],
    })
})
