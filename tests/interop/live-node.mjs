// A live @frostr/bifrost 1.0.7 node for tests/interop_node.rs.
//
//   node --experimental-websocket live-node.mjs < input.json
//     input: { group, share, relays[], peer (x-only key of the igloo node), message (64-hex) }
//
// Connects, prints {"ready":true}, then asks the igloo peer to co-sign `message` (retrying
// until it answers) and prints {"signed":[sighash, pubkey, sig]}. It keeps answering
// requests until stdin is closed. Every line on stdout is JSON.

import { SimplePool } from 'nostr-tools';
import { BifrostNode, PackageEncoder } from '@frostr/bifrost';

// nostr-p2p passes [filter] to subscribeMany; nostr-tools >= 2.17 would send it nested
// (spec §4.1). igloo-server unwraps it the same way.
const orig = SimplePool.prototype.subscribeMany;
SimplePool.prototype.subscribeMany = function (relays, filter, params) {
  const f = Array.isArray(filter) && filter.length === 1 ? filter[0] : filter;
  return orig.call(this, relays, f, params);
};

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

let input = '';
process.stdin.setEncoding('utf8');
const firstChunk = await new Promise((resolve) => process.stdin.once('data', resolve));
input += firstChunk;
const req = JSON.parse(input);
// Closing stdin ends the process.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

const group = PackageEncoder.group.decode(req.group);
const share = PackageEncoder.share.decode(req.share);
const node = new BifrostNode(group, share, req.relays);
node.on('bounced', (b) => process.stderr.write(`bounced: ${JSON.stringify(b)}\n`));
await new Promise((resolve) => {
  node.once('ready', resolve);
  node.connect();
});
out({ ready: true });

const deadline = Date.now() + 30000;
for (;;) {
  const res = await node.req.sign(req.message, { peers: [req.peer] });
  if (res.ok) {
    out({ signed: res.data[0] });
    break;
  }
  process.stderr.write(`sign attempt failed: ${res.err}\n`);
  if (Date.now() > deadline) {
    out({ error: String(res.err) });
    break;
  }
  await new Promise((r) => setTimeout(r, 500));
}
