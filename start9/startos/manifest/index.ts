import { setupManifest } from '@start9labs/start-sdk'

export const manifest = setupManifest({
  id: 'igloo',
  title: 'igloo',
  license: 'MIT',
  packageRepo: 'https://github.com/FROSTR-ORG/igloo/tree/main/start9',
  upstreamRepo: 'https://github.com/FROSTR-ORG/igloo',
  marketingUrl: 'https://frostr.org',
  donationUrl: null,
  description: {
    short: 'An always-on FROSTR signing node for Nostr',
    long: 'igloo holds one share of a k-of-n FROST key for your Nostr identity and answers the other members of your signing group over Nostr relays, around the clock. Your nsec never exists in one place. It serves a web UI, an HTTP API with API keys, and a small built-in relay.',
  },
  volumes: ['main'],
  images: {
    // The image the top-level Dockerfile builds (non-root igloo user, UID 1000).
    igloo: {
      source: { dockerBuild: { dockerfile: '../Dockerfile', workdir: '..' } },
      arch: ['x86_64', 'aarch64'],
      emulateMissingAs: null,
    },
  },
  alerts: {
    install: null,
    update: null,
    uninstall:
      'Uninstalling deletes this node\'s share unless you made a backup. Keep an encrypted copy of your share (or the whole keyset) elsewhere.',
    restore:
      "Restoring replaces the current data, users and API keys with the backup's.",
    start: null,
    stop: null,
  },
  dependencies: {},
})
