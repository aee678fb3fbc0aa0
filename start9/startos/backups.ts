import { sdk } from './sdk'

// The whole data volume: store (share, users, API keys, policies) and device key.
export const { createBackup, restoreInit } = sdk.setupBackups(async () =>
  sdk.Backups.ofVolumes('main'),
)
