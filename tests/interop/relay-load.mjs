// Relay load for scripts/soak: `clients` WebSocket clients on one relay, each subscribed to
// kind 1 and publishing a signed kind-1 note every `interval_ms`, until stdin closes.
//
//   node --experimental-websocket relay-load.mjs < input.json
//     input: { relay, clients, interval_ms }
//
// Prints one JSON line per minute ({published, received, errors}).

import { Relay, finalizeEvent, generateSecretKey } from 'nostr-tools';

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
const counts = { published: 0, received: 0, errors: 0 };
process.stdin.on('end', () => {
  out({ final: true, ...counts });
  process.exit(0);
});
setInterval(() => out({ ...counts }), 60000);

async function client(i) {
  const sk = generateSecretKey();
  for (;;) {
    try {
      const relay = await Relay.connect(req.relay);
      relay.subscribe([{ kinds: [1], limit: 0 }], { onevent: () => (counts.received += 1) });
      for (;;) {
        const ev = finalizeEvent(
          { kind: 1, created_at: Math.floor(Date.now() / 1000), tags: [], content: `load ${i} ${counts.published}` },
          sk,
        );
        await relay.publish(ev);
        counts.published += 1;
        await new Promise((r) => setTimeout(r, req.interval_ms));
      }
    } catch {
      counts.errors += 1;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
for (let i = 0; i < req.clients; i++) client(i);
