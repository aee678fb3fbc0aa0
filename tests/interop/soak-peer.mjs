// A @frostr/bifrost 1.0.7 peer for scripts/soak: pings the igloo node every `interval_ms`
// and asks it to co-sign every `sign_every`th tick (default 10), until stdin closes.
//
//   node --experimental-websocket soak-peer.mjs < input.json
//     input: { group, share, relays[], peer (x-only key of the igloo node), interval_ms,
//              sign_every? }
//
// Prints one JSON line per sign ({sign_ms, ok}), one per minute with the counts
// ({pings_ok, pings_failed, signs_ok, signs_failed}) and a last one when stdin closes.

import { SimplePool } from 'nostr-tools';
import { BifrostNode, PackageEncoder } from '@frostr/bifrost';
import { randomBytes } from 'node:crypto';

// nostr-p2p passes [filter] to subscribeMany; unwrap it as igloo-server does (spec §4.1).
const orig = SimplePool.prototype.subscribeMany;
SimplePool.prototype.subscribeMany = function (relays, filter, params) {
  const f = Array.isArray(filter) && filter.length === 1 ? filter[0] : filter;
  return orig.call(this, relays, f, params);
};

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const req = JSON.parse(
  await new Promise((resolve) => {
    let buf = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (c) => {
      buf += c;
      if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')));
    });
  }),
);

const counts = { pings_ok: 0, pings_failed: 0, signs_ok: 0, signs_failed: 0 };
process.stdin.on('end', () => {
  out({ final: true, ...counts });
  process.exit(0);
});

const group = PackageEncoder.group.decode(req.group);
const share = PackageEncoder.share.decode(req.share);
const node = new BifrostNode(group, share, req.relays);
await new Promise((resolve) => {
  node.once('ready', resolve);
  node.connect();
});
out({ ready: true });

const signEvery = req.sign_every ?? 10;
let tick = 0;
setInterval(() => out({ ...counts }), 60000);
for (;;) {
  tick += 1;
  const ping = await node.req.ping(req.peer);
  if (ping.ok) counts.pings_ok += 1;
  else counts.pings_failed += 1;
  if (tick % signEvery === 0) {
    const t0 = performance.now();
    const res = await node.req.sign(randomBytes(32).toString('hex'), { peers: [req.peer] });
    if (res.ok) counts.signs_ok += 1;
    else counts.signs_failed += 1;
    out({ sign_ms: Math.round(performance.now() - t0), ok: !!res.ok });
  }
  await new Promise((r) => setTimeout(r, req.interval_ms));
}
