/** igloo's port inside the container; StartOS terminates TLS in front of it. */
export const uiPort = 8002
/** Where the `main` volume is mounted; igloo keeps its store and device key here. */
export const dataDir = '/data'
/** The user the image creates (UID 1000); igloo never runs as root. */
export const iglooUser = 'igloo'
/** The binary the image installs. */
export const igloo = '/usr/local/bin/igloo'

/**
 * igloo's settings on StartOS (names from `igloo --help`; tests/packaging.rs checks each one).
 * StartOS's reverse proxy speaks plain HTTP to the container, so igloo's own TLS is off.
 */
export const iglooEnv = {
  HOST_NAME: '0.0.0.0',
  HOST_PORT: String(uiPort),
  DB_PATH: dataDir,
  NODE_ENV: 'production',
  IGLOO_TLS: 'off',
  AUTH_ENABLED: 'true',
  RATE_LIMIT_ENABLED: 'true',
  ALLOWED_ORIGINS: '@self',
  IGLOO_SHUTDOWN_TIMEOUT: '20',
}

/** StartOS waits this long (ms) after SIGTERM; longer than IGLOO_SHUTDOWN_TIMEOUT's drain. */
export const sigtermTimeout = 30_000
