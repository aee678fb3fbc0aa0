// A real NIP-46 client (nostr-tools 2.x BunkerSigner) for tests/nip46.rs and the bench.
//
//   node --experimental-websocket nip46-client.mjs
//
// Reads one JSON command per line on stdin, answers one JSON line per command on stdout:
//   {op:"bunker", uri, sk?}            BunkerSigner.fromBunker + connect (sk: reuse a client key)
//   {op:"resume", uri, sk}             fromBunker without connect (a paired client coming back)
//   {op:"nostrconnect", relays, perms} prints {uri, sk}, then {connected} once igloo answers
//   {op:"pubkey"} {op:"ping"}
//   {op:"sign", kind, content}         signEvent, checked with verifyEvent
//   {op:"crypto"}                      nip44/nip04 round trips against nostr-tools' own ciphers
//   {op:"bench", n}                    n sequential sign_event round trips: {ms:[…]}
// Every request is given `timeout` ms (default 8000): {error:"timeout"} when nothing comes.

import { BunkerSigner, parseBunkerInput, createNostrConnectURI } from 'nostr-tools/nip46';
import { SimplePool } from 'nostr-tools/pool';
import { generateSecretKey, getPublicKey, verifyEvent } from 'nostr-tools/pure';
import * as nip44 from 'nostr-tools/nip44';
import * as nip04 from 'nostr-tools/nip04';
import readline from 'node:readline';

const bytesToHex = (b) => Buffer.from(b).toString('hex');
const hexToBytes = (h) => new Uint8Array(Buffer.from(h, 'hex'));
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const withTimeout = (p, ms) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), ms))]);

let signer = null;

async function run(cmd) {
  const t = cmd.timeout ?? 8000;
  switch (cmd.op) {
    case 'bunker':
    case 'resume': {
      const sk = cmd.sk ? hexToBytes(cmd.sk) : generateSecretKey();
      const bp = await parseBunkerInput(cmd.uri);
      if (!bp) throw new Error('not a bunker URI');
      signer = BunkerSigner.fromBunker(sk, bp);
      if (cmd.op === 'bunker') await withTimeout(signer.connect(), t);
      return { ok: true, sk: bytesToHex(sk), client: getPublicKey(sk) };
    }
    case 'nostrconnect': {
      const sk = generateSecretKey();
      const secret = bytesToHex(generateSecretKey()).slice(0, 16);
      const uri = createNostrConnectURI({
        clientPubkey: getPublicKey(sk),
        relays: cmd.relays,
        secret,
        perms: cmd.perms ?? [],
        name: 'nip46 test app',
        url: 'https://app.example',
      });
      // Subscribe first (as an app showing its QR code does), then hand out the URI.
      const pool = new SimplePool();
      const pending = withTimeout(BunkerSigner.fromURI(sk, uri, { pool }, t), t + 1000);
      pending.catch(() => {});
      const until = Date.now() + 5000;
      while (![...pool.listConnectionStatus().values()].some(Boolean) && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 200));
      out({ id: cmd.id, uri, sk: bytesToHex(sk), client: getPublicKey(sk) });
      signer = await pending;
      return { connected: true, signer: signer.bp.pubkey };
    }
    case 'pubkey':
      return { pubkey: await withTimeout(signer.getPublicKey(), t) };
    case 'ping':
      await withTimeout(signer.ping(), t);
      return { pong: true };
    case 'sign': {
      const ev = await withTimeout(
        signer.signEvent({
          kind: cmd.kind ?? 1,
          content: cmd.content ?? 'hello from nostr-tools',
          tags: [['t', 'igloo']],
          created_at: Math.floor(Date.now() / 1000),
        }),
        t,
      );
      return { event: ev, verified: verifyEvent(ev) };
    }
    case 'crypto': {
      const group = await withTimeout(signer.getPublicKey(), t);
      const third = generateSecretKey();
      const thirdPk = getPublicKey(third);
      const conv = nip44.getConversationKey(third, group);
      // igloo encrypts, nostr-tools (as the third party) decrypts, and back.
      const c44 = await withTimeout(signer.nip44Encrypt(thirdPk, 'nip44 from igloo'), t);
      const p44 = nip44.decrypt(c44, conv);
      const d44 = await withTimeout(signer.nip44Decrypt(thirdPk, nip44.encrypt('nip44 to igloo', conv)), t);
      const c04 = await withTimeout(signer.nip04Encrypt(thirdPk, 'nip04 from igloo'), t);
      const p04 = await nip04.decrypt(third, group, c04);
      const d04 = await withTimeout(signer.nip04Decrypt(thirdPk, await nip04.encrypt(third, group, 'nip04 to igloo')), t);
      return { p44, d44, p04, d04 };
    }
    case 'bench': {
      const ms = [];
      for (let i = 0; i < cmd.n; i++) {
        const t0 = performance.now();
        const ev = await withTimeout(
          signer.signEvent({ kind: 1, content: `bench ${i}`, tags: [], created_at: Math.floor(Date.now() / 1000) }),
          t,
        );
        ms.push(performance.now() - t0);
        if (!verifyEvent(ev)) throw new Error('bad signature');
      }
      return { ms };
    }
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch {
    return out({ error: 'bad command' });
  }
  try {
    out({ id: cmd.id, ...(await run(cmd)) });
  } catch (e) {
    out({ id: cmd.id, error: String(e?.message ?? e) });
  }
});
rl.on('close', () => process.exit(0));
