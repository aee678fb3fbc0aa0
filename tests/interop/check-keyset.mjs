// Checks igloo's credentials with the real JavaScript libraries (driven by tests/interop_keyset.rs).
//
//   node check-keyset.mjs check < input.json
//     input: { group, shares[], nsec, group_id, ecdh: { ecdh_pk, members[], combined } }
//     Decodes everything with @frostr/bifrost and @frostr/igloo-core, checks re-encoding,
//     membership, the group id, igloo-core's recovery and bifrost's threshold ECDH.
//   node check-keyset.mjs generate <t> <n> <secret_hex>
//     Prints igloo-core's generateKeysetWithSecret output, for the reverse direction.
//
// Prints one JSON line: { ok: true, checks } or { ok: false, error }; exit code 1 on failure.

import { PackageEncoder } from '@frostr/bifrost';
import { get_group_id, is_group_member, create_ecdh_pkg, combine_ecdh_pkgs } from '@frostr/bifrost/lib';
import {
  decodeGroup,
  decodeShare,
  generateKeysetWithSecret,
  recoverSecretKeyFromCredentials,
  validateGroup,
  validateShare,
} from '@frostr/igloo-core';

let checks = 0;
function eq(actual, expected, what) {
  checks += 1;
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${what}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
  }
}

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

function check(input) {
  const group = PackageEncoder.group.decode(input.group);
  eq(PackageEncoder.group.encode(group), input.group, 'bifrost re-encodes the group');
  eq(get_group_id(group), input.group_id, 'group id');
  eq(validateGroup(input.group).isValid, true, 'igloo-core validateGroup');
  const igGroup = decodeGroup(input.group);
  eq(igGroup.threshold, group.threshold, 'igloo-core threshold');
  eq(igGroup.commits.length, input.shares.length, 'one commit per share');

  const shares = input.shares.map((s, i) => {
    const share = PackageEncoder.share.decode(s);
    eq(PackageEncoder.share.encode(share), s, `bifrost re-encodes share ${i + 1}`);
    eq(validateShare(s).isValid, true, `igloo-core validateShare ${i + 1}`);
    eq(decodeShare(s).idx, share.idx, `igloo-core share ${i + 1} idx`);
    eq(is_group_member(group, share), true, `share ${share.idx} is a group member`);
    const commit = group.commits.find((c) => c.idx === share.idx);
    eq(commit !== undefined, true, `commit for share ${share.idx}`);
    return share;
  });

  // igloo-core recovery from exactly t shares (the last t, to avoid always using share 1).
  const t = group.threshold;
  const subset = input.shares.slice(input.shares.length - t);
  eq(recoverSecretKeyFromCredentials(input.group, subset), input.nsec, 'igloo-core recovers the nsec');

  if (input.ecdh) {
    const { ecdh_pk, members, combined } = input.ecdh;
    const pkgs = members.map((idx) => {
      const share = shares.find((s) => s.idx === idx);
      return create_ecdh_pkg(members, ecdh_pk, { idx: share.idx, seckey: share.seckey });
    });
    eq(combine_ecdh_pkgs(pkgs), combined, 'bifrost threshold ECDH matches igloo');
  }
}

try {
  const mode = process.argv[2];
  if (mode === 'check') {
    check(await readStdin());
    console.log(JSON.stringify({ ok: true, checks }));
  } else if (mode === 'generate') {
    const [t, n, secret] = process.argv.slice(3);
    const out = generateKeysetWithSecret(Number(t), Number(n), secret);
    console.log(JSON.stringify({ ok: true, group: out.groupCredential, shares: out.shareCredentials }));
  } else {
    throw new Error(`unknown mode ${mode}; use "check" or "generate"`);
  }
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String(e && e.message ? e.message : e), checks }));
  process.exit(1);
}
