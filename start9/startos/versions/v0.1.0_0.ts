import { IMPOSSIBLE, VersionInfo } from '@start9labs/start-sdk'

// Upstream version = Cargo.toml's (tests/packaging.rs checks it); `:0` is the package revision.
export const v_0_1_0_0 = VersionInfo.of({
  version: '0.1.0:0',
  releaseNotes:
    'First release of the Rust igloo for StartOS 0.4: FROSTR v1 and V2 keysets, web UI, HTTP API and built-in relay.',
  migrations: {
    up: async () => {},
    down: IMPOSSIBLE,
  },
})
