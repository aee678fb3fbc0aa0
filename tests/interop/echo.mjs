// igloo-core 0.2.4 echo, for tests/interop_echo.rs.
//
//   node --experimental-websocket echo.mjs < input.json
//     input: { group, share, relays[] }
//
// 1. awaitShareEcho: prints {"listening":true} once subscribed, then {"echo":true} when an
//    echo for this share arrives (what Igloo Desktop's share-export flow waits for).
// 2. After a second input line (anything), sendEcho: publishes an echo of the same share (as
//    a second device would) and prints {"sent":true} when its relay round trip completes.
// Every line on stdout is JSON; errors print {"error": "..."}.

import { SimplePool } from 'nostr-tools';
import { awaitShareEcho, sendEcho } from '@frostr/igloo-core';

// nostr-p2p passes [filter] to subscribeMany; unwrap it as igloo-server does (spec §4.1).
const orig = SimplePool.prototype.subscribeMany;
SimplePool.prototype.subscribeMany = function (relays, filter, params) {
  const f = Array.isArray(filter) && filter.length === 1 ? filter[0] : filter;
  return orig.call(this, relays, f, params);
};

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

// Input lines, one promise each.
const lines = [];
const waiters = [];
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => {
  buf += c;
  let nl;
  while ((nl = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    const w = waiters.shift();
    if (w) w(line);
    else lines.push(line);
  }
});
process.stdin.on('end', () => process.exit(0));
const nextLine = () =>
  lines.length > 0 ? Promise.resolve(lines.shift()) : new Promise((r) => waiters.push(r));

const req = JSON.parse(await nextLine());

const quiet = {
  enableLogging: true,
  customLogger: (level, message) => {
    if (message.includes('Listening for echo')) out({ listening: true });
    process.stderr.write(`[${level}] ${message}\n`);
  },
};

try {
  const ok = await awaitShareEcho(req.group, req.share, {
    relays: req.relays,
    timeout: 30000,
    eventConfig: quiet,
  });
  out({ echo: ok === true });
} catch (e) {
  out({ error: String(e && e.message ? e.message : e) });
  process.exit(0);
}

await nextLine();
try {
  const challenge = [...crypto.getRandomValues(new Uint8Array(32))]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('');
  await sendEcho(req.group, req.share, challenge, {
    relays: req.relays,
    timeout: 20000,
    eventConfig: { enableLogging: false },
  });
  out({ sent: true });
} catch (e) {
  out({ error: String(e && e.message ? e.message : e) });
}
process.exit(0);
