// A long-running @frostr/bifrost 1.0.7 peer for scripts/soak: it pings the igloo node every
// few seconds and asks it to co-sign now and then, printing one JSON line per minute.
//
//   node --experimental-websocket soak-peer.mjs < input.json
//     input: { group, share, relays[], peer (x-only key of igloo), pingMs, signMs }
//
// Ends when stdin closes.

import { randomBytes } from 'node:crypto';
import { SimplePool } from 'nostr-tools';
import { BifrostNode, PackageEncoder } from '@frostr/bifrost';

// nostr-p2p passes [filter]; see live-node.mjs.
const orig = SimplePool.prototype.subscribeMany;
SimplePool.prototype.subscribeMany = function (relays, filter, params) {
  const f = Array.isArray(filter) && filter.length === 1 ? filter[0] : filter;
  return orig.call(this, relays, f, params);
};

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const req = JSON.parse(await new Promise((resolve) => process.stdin.once('data', resolve)));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

const node = new BifrostNode(
  PackageEncoder.group.decode(req.group),
  PackageEncoder.share.decode(req.share),
  req.relays,
);
await new Promise((resolve) => {
  node.once('ready', resolve);
  node.connect();
});
out({ ready: true });

const stats = { pings: 0, pingFailures: 0, signs: 0, signFailures: 0 };
setInterval(async () => {
  const res = await node.req.ping(req.peer);
  if (res.ok) stats.pings++;
  else stats.pingFailures++;
}, req.pingMs);
setInterval(async () => {
  const res = await node.req.sign(randomBytes(32).toString('hex'), { peers: [req.peer] });
  if (res.ok) stats.signs++;
  else stats.signFailures++;
}, req.signMs);
setInterval(() => out({ stats }), 60000);
