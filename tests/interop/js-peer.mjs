// A scriptable JavaScript peer for the interop tests and the sign benchmark: a real
// @frostr/bifrost 1.0.7 node plus nostr-tools' NIP-04/NIP-44/verifyEvent.
//
//   node --experimental-websocket js-peer.mjs
//
// Reads one JSON command per line on stdin, answers one JSON line on stdout with the same
// `id`: {id, ok: true, ...} or {id, ok: false, err}. Exits when stdin closes.
//   {cmd:"start", group, share, relays[]}       start a bifrost node, wait until ready
//   {cmd:"sign", message, peers?}               -> {sig}        (peers: x-only keys)
//   {cmd:"sign_queued", messages[]}            -> {sigs, signRequests: [sighashes per /sign/req sent]}
//                                                  every message through bifrost's sign queue
//                                                  (node.req.queue) at once, so the queue batches
//                                                  those of one sign_ival (100 ms) in one request
//   {cmd:"ecdh", pubkey, peers?}                -> {secret}     (33-byte compressed hex)
//   {cmd:"ping", peer}                          -> {policy}
//   {cmd:"bench_sign", n, peers?}               -> {ms: [..], phases: [{pub, ack, res, end}],
//                                                   extra: {tag: count of other messages}}
//                                                  n sequential signatures, timed
//   {cmd:"nip44_encrypt"|"nip44_decrypt"|"nip04_encrypt"|"nip04_decrypt", sk, pk, content}
//                                               -> {result}     (sk: hex secret, pk: x-only)
//   {cmd:"verify_event", event}                 -> {valid}
//   {cmd:"stats"}                               -> {signRequests: {sender x-only: count}}
//                                                  (sign requests this node received)
//   {cmd:"close"}                               close the bifrost node

import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { SimplePool, nip04, nip44, verifyEvent } from 'nostr-tools';
import { BifrostNode, PackageEncoder } from '@frostr/bifrost';

// nostr-p2p passes [filter] to subscribeMany; nostr-tools >= 2.17 would send it nested
// (spec §4.1). igloo-server unwraps it the same way.
const orig = SimplePool.prototype.subscribeMany;
SimplePool.prototype.subscribeMany = function (relays, filter, params) {
  const f = Array.isArray(filter) && filter.length === 1 ? filter[0] : filter;
  return orig.call(this, relays, f, params);
};

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const hexToBytes = (h) => Uint8Array.from(Buffer.from(h, 'hex'));
let node = null;
// Sign requests received per sender, so a test can prove a peer was never asked.
let signRequests = {};

function need_node() {
  if (node === null) throw new Error('no bifrost node: send {cmd:"start"} first');
  return node;
}

async function sign(message, peers) {
  const res = await need_node().req.sign(message, peers ? { peers } : {});
  if (!res.ok) throw new Error(`sign failed: ${res.err}`);
  return res.data[0][2];
}

const handlers = {
  async start(c) {
    const group = PackageEncoder.group.decode(c.group);
    const share = PackageEncoder.share.decode(c.share);
    node = new BifrostNode(group, share, c.relays);
    node.on('bounced', (b) => process.stderr.write(`bounced: ${JSON.stringify(b)}\n`));
    signRequests = {};
    node.on('message', (msg) => {
      const from = msg?.env?.pubkey;
      if (msg?.tag === '/sign/req' && from !== node.pubkey) {
        signRequests[from] = (signRequests[from] ?? 0) + 1;
      }
    });
    await new Promise((resolve) => {
      node.once('ready', resolve);
      node.connect();
    });
    return { pubkey: node.pubkey };
  },
  async sign(c) {
    return { sig: await sign(c.message, c.peers) };
  },
  async sign_queued(c) {
    const n = need_node();
    const sent = [];
    const onPub = (m) => {
      if (m?.tag !== '/sign/req') return;
      try {
        sent.push(JSON.parse(m.data).hashes.length);
      } catch {
        sent.push(-1);
      }
    };
    n.client.inbox.event.on('published', onPub);
    try {
      const entries = await Promise.all(c.messages.map((m) => n.req.queue(m)));
      return { sigs: entries.map((e) => e[2]), signRequests: sent };
    } finally {
      n.client.inbox.event.off('published', onPub);
    }
  },
  async ecdh(c) {
    const res = await need_node().req.ecdh(c.pubkey, c.peers);
    if (!res.ok) throw new Error(`ecdh failed: ${res.err}`);
    return { secret: res.data };
  },
  async ping(c) {
    const res = await need_node().req.ping(c.peer);
    if (!res.ok) throw new Error(`ping failed: ${res.err}`);
    return { policy: res.data };
  },
  async bench_sign(c) {
    const n = need_node();
    const ms = [];
    // Where each signature's time goes, ms after its start: request handed to the relay
    // pool (pub), the relay's OK for it (ack), the first /sign/res (res), the result (end).
    const phases = [];
    let cur = null;
    const mark = (key) => {
      if (cur !== null && cur[key] === undefined) cur[key] = performance.now() - cur.t0;
    };
    const onPub = (m) => m?.tag === '/sign/req' && mark('pub');
    const onAck = (r) => r?.data?.tag === '/sign/req' && mark('ack');
    // Every other message received meanwhile costs the requester a verify and a decrypt.
    const extra = {};
    const onMsg = (m) => {
      if (m?.tag === '/sign/res') mark('res');
      else if (cur !== null) extra[m?.tag] = (extra[m?.tag] ?? 0) + 1;
    };
    n.client.inbox.event.on('published', onPub);
    n.client.inbox.event.on('settled', onAck);
    n.client.on('message', onMsg);
    try {
      for (let i = 0; i < c.n; i++) {
        const msg = randomBytes(32).toString('hex');
        cur = { t0: performance.now() };
        await sign(msg, c.peers);
        const end = performance.now() - cur.t0;
        ms.push(end);
        phases.push({ pub: cur.pub, ack: cur.ack, res: cur.res, end });
        cur = null;
      }
    } finally {
      n.client.inbox.event.off('published', onPub);
      n.client.inbox.event.off('settled', onAck);
      n.client.off('message', onMsg);
    }
    process.stderr.write(`bench_sign: ${c.n} signatures, other messages received: ${JSON.stringify(extra)}\n`);
    return { ms, phases, extra };
  },
  async nip44_encrypt(c) {
    return { result: nip44.encrypt(c.content, nip44.getConversationKey(hexToBytes(c.sk), c.pk)) };
  },
  async nip44_decrypt(c) {
    return { result: nip44.decrypt(c.content, nip44.getConversationKey(hexToBytes(c.sk), c.pk)) };
  },
  async nip04_encrypt(c) {
    return { result: await nip04.encrypt(c.sk, c.pk, c.content) };
  },
  async nip04_decrypt(c) {
    return { result: await nip04.decrypt(c.sk, c.pk, c.content) };
  },
  async verify_event(c) {
    return { valid: verifyEvent(c.event) };
  },
  async stats() {
    return { signRequests: { ...signRequests } };
  },
  async close() {
    if (node !== null) await node.close();
    node = null;
    return {};
  },
};

const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  let c;
  try {
    c = JSON.parse(line);
  } catch (e) {
    out({ id: null, ok: false, err: `bad JSON: ${e.message}` });
    return;
  }
  const h = handlers[c.cmd];
  if (h === undefined) {
    out({ id: c.id, ok: false, err: `unknown command ${c.cmd}` });
    return;
  }
  try {
    out({ id: c.id, ok: true, ...(await h(c)) });
  } catch (e) {
    out({ id: c.id, ok: false, err: String(e?.message ?? e) });
  }
});
rl.on('close', () => process.exit(0));
