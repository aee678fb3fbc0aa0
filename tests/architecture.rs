//! The layers of ARCHITECTURE.md, enforced: a checker reads every file under `src/`, finds
//! which top-level modules each one uses, and reports the uses the rules below forbid.
//!
//! What counts as a use: `use` declarations (grouped ones too: `use crate::{a, b::c}`), any
//! inline path `crate::x::…`, `super::` paths that climb out of their top-level module, and
//! `igloo::x` in the binary (`src/main.rs`). Comments, string and character literals are
//! ignored, so a doc link or a message naming a module is not a use. Test modules
//! (`#[cfg(test)]`) are checked like the rest: a test must not reach through the layers either.
//!
//! The checker is plain text processing (no parser dependency); a fixture tree under
//! `tests/fixtures/architecture/` holds forbidden uses in every form it must catch, and the
//! last tests check that it reports each of them (the test of the test).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A rule about what the files of one top-level module may use.
struct Rule {
    from: &'static str,
    kind: Kind,
    why: &'static str,
}

enum Kind {
    /// These modules must not be used.
    Forbid(&'static [&'static str]),
    /// Only these modules (and the module itself) may be used.
    Only(&'static [&'static str]),
}

/// The pure cores: no I/O, clocks or globals.
const PURE: &[&str] = &["frostr", "frostr_v2", "nips"];

const RULES: &[Rule] = &[
    Rule {
        from: "auth",
        kind: Kind::Forbid(&[
            "http", "control", "daemon", "server", "cli", "node", "keyset",
        ]),
        why: "auth answers who is calling from the store; the HTTP layer calls it, never the reverse",
    },
    Rule {
        from: "config",
        kind: Kind::Only(PURE),
        why: "config is plain data: it imports no service (node, keyset, cli, relay, …)",
    },
    Rule {
        from: "frostr",
        kind: Kind::Only(&[]),
        why: "frostr (v1) is a pure core: nothing outside itself",
    },
    Rule {
        from: "frostr_v2",
        kind: Kind::Only(&["frostr"]),
        why: "frostr_v2 is a pure core: it may build on frostr, nothing else",
    },
    Rule {
        from: "nips",
        kind: Kind::Only(&["frostr", "frostr_v2"]),
        why: "nips is a pure core: it may build on the other pure cores only",
    },
    Rule {
        from: "relay",
        kind: Kind::Forbid(&[
            "node",
            "frostr",
            "frostr_v2",
            "http",
            "control",
            "auth",
            "keyset",
            "store",
            "daemon",
        ]),
        why: "the relay knows nothing of signing, accounts or the HTTP layer",
    },
    Rule {
        from: "store",
        kind: Kind::Forbid(&[
            "http", "node", "control", "auth", "daemon", "server", "cli", "nip46",
        ]),
        why: "storage sits below the services and the control layer",
    },
    Rule {
        from: "secrets",
        kind: Kind::Forbid(&[
            "http", "node", "control", "auth", "daemon", "server", "cli", "keyset",
        ]),
        why: "storage sits below the services and the control layer",
    },
    Rule {
        from: "control",
        kind: Kind::Forbid(&["http", "daemon", "server", "cli"]),
        why: "the control layer knows nothing of its callers (no axum, status codes or cookies)",
    },
    Rule {
        from: "node",
        kind: Kind::Forbid(&["http", "control", "auth", "daemon", "server", "cli"]),
        why: "the node is a service below the control layer",
    },
    Rule {
        from: "nip46",
        kind: Kind::Forbid(&["http", "daemon", "server", "cli"]),
        why: "the NIP-46 signer is an adapter on the control layer, beside HTTP, never through it",
    },
    Rule {
        from: "keyset",
        kind: Kind::Forbid(&["http", "control", "auth", "node", "daemon", "server", "cli"]),
        why: "keyset is a service below the control layer",
    },
];

/// One forbidden use.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    file: PathBuf,
    line: usize,
    from: String,
    to: String,
}

/// A use of another top-level module, by line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Use {
    line: usize,
    to: String,
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = entry.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The module path of a file relative to `src/`: `auth/authn.rs` → [auth, authn],
/// `http/mod.rs` → [http], `lib.rs` → [], `main.rs` → [main].
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    match (parts.is_empty(), stem) {
        (true, "lib") => {}
        (_, "mod") => {}
        _ => parts.push(stem.to_string()),
    }
    parts
}

/// `src` with comments, string literals and character literals blanked out (newlines kept,
/// so line numbers stay right).
fn strip(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && (i == 0 || !(b[i - 1].is_alphanumeric() || b[i - 1] == '_'))
        {
            // Raw string r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            for &ch in &b[i..j.min(b.len())] {
                out.push(blank(ch));
            }
            i = j;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}'), else a lifetime or label.
            let lit_end = if next == Some('\\') {
                (i + 2..b.len()).find(|&j| b[j] == '\'')
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match lit_end {
                Some(end) => {
                    for _ in i..=end {
                        out.push(' ');
                    }
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Path,  // ::
    Open,  // {
    Close, // }
    Comma,
    Other,
}

/// Identifiers, `::`, braces and commas, with their line numbers.
fn tokens(code: &str) -> Vec<(usize, Tok)> {
    let b: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < b.len() {
        let c = b[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            let word: String = b[start..i].iter().collect();
            // `$crate` in a macro is the crate too.
            out.push((line, Tok::Ident(word)));
        } else if c == ':' && b.get(i + 1) == Some(&':') {
            out.push((line, Tok::Path));
            i += 2;
        } else {
            out.push((
                line,
                match c {
                    '{' => Tok::Open,
                    '}' => Tok::Close,
                    ',' => Tok::Comma,
                    _ => Tok::Other,
                },
            ));
            i += 1;
        }
    }
    out
}

/// The first identifiers of a group `{a, b::c, self, …}` starting at `toks[i]` (an `Open`).
fn group_heads(toks: &[(usize, Tok)], mut i: usize) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut expect_head = false;
    while i < toks.len() {
        match &toks[i].1 {
            Tok::Open => {
                depth += 1;
                expect_head = depth == 1;
            }
            Tok::Close => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Tok::Comma => expect_head = depth == 1,
            Tok::Ident(w) if expect_head => {
                out.push((toks[i].0, w.clone()));
                expect_head = false;
            }
            _ => expect_head = false,
        }
        i += 1;
    }
    out
}

/// The top-level modules `code` (the file at module path `module`) uses.
fn uses(code: &str, module: &[String], crate_name: &str) -> Vec<Use> {
    let toks = tokens(&strip(code));
    let mut out = Vec::new();
    // Inline `mod x { … }` blocks deepen `super::`: track which braces opened one.
    let mut braces: Vec<bool> = Vec::new();
    let mut inline_depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].1 {
            Tok::Open => {
                let is_mod = i >= 2
                    && matches!(&toks[i - 2].1, Tok::Ident(w) if w == "mod")
                    && matches!(&toks[i - 1].1, Tok::Ident(_));
                braces.push(is_mod);
                if is_mod {
                    inline_depth += 1;
                }
            }
            // The guard pops every closing brace; only a module's changes the depth.
            Tok::Close if braces.pop() == Some(true) => inline_depth -= 1,
            Tok::Ident(w)
                if (w == "crate" || w == crate_name)
                    && toks.get(i + 1).map(|t| &t.1) == Some(&Tok::Path) =>
            {
                // `crate` must start the path (not `foo::crate`); `igloo::` only in the binary.
                let starts = i == 0 || toks[i - 1].1 != Tok::Path;
                if starts {
                    match toks.get(i + 2) {
                        Some((l, Tok::Ident(m))) => out.push(Use {
                            line: *l,
                            to: m.clone(),
                        }),
                        Some((_, Tok::Open)) => {
                            for (l, m) in group_heads(&toks, i + 2) {
                                out.push(Use { line: l, to: m });
                            }
                        }
                        _ => {}
                    }
                }
            }
            Tok::Ident(w) if w == "super" && (i == 0 || toks[i - 1].1 != Tok::Path) => {
                // Count the `super::` hops and see whether they leave the top-level module.
                let mut hops = 0;
                let mut j = i;
                while matches!(&toks.get(j).map(|t| &t.1), Some(Tok::Ident(s)) if s == "super")
                    && toks.get(j + 1).map(|t| &t.1) == Some(&Tok::Path)
                {
                    hops += 1;
                    j += 2;
                }
                let depth = module.len() + inline_depth;
                if hops >= depth && hops > 0 {
                    // Climbed to the crate root: the next segment names a top-level module.
                    let climbed_from_top = hops - depth;
                    if climbed_from_top == 0 {
                        match toks.get(j) {
                            Some((l, Tok::Ident(m))) => out.push(Use {
                                line: *l,
                                to: m.clone(),
                            }),
                            Some((_, Tok::Open)) => {
                                for (l, m) in group_heads(&toks, j) {
                                    out.push(Use { line: l, to: m });
                                }
                            }
                            _ => {}
                        }
                    }
                }
                // `pub(super)` has no hops: step over it.
                i = j.max(i + 1);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Every use between top-level modules under `src`, by file.
fn graph(src: &Path) -> BTreeMap<PathBuf, (String, Vec<Use>)> {
    let mut out = BTreeMap::new();
    for file in rust_files(src) {
        let rel = file.strip_prefix(src).expect("under src").to_path_buf();
        let module = module_path(&rel);
        let top = module.first().cloned().unwrap_or_else(|| "lib".to_string());
        let code = std::fs::read_to_string(&file).expect("readable");
        // The binary reaches the library as `igloo::`; inside the library it is `crate::`.
        let crate_name = if top == "main" { "igloo" } else { "crate" };
        let found = uses(&code, &module, crate_name)
            .into_iter()
            .filter(|u| u.to != top && u.to != "self" && u.to != "super")
            .collect();
        out.insert(rel, (top, found));
    }
    out
}

/// The uses under `src` that `rules` forbid.
fn check(src: &Path, rules: &[Rule]) -> Vec<Violation> {
    let mut out = Vec::new();
    for (file, (top, found)) in graph(src) {
        for rule in rules.iter().filter(|r| r.from == top) {
            for u in &found {
                let forbidden = match rule.kind {
                    Kind::Forbid(list) => list.contains(&u.to.as_str()),
                    Kind::Only(list) => !list.contains(&u.to.as_str()),
                };
                if forbidden {
                    out.push(Violation {
                        file: file.clone(),
                        line: u.line,
                        from: top.clone(),
                        to: u.to.clone(),
                    });
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn report(v: &[Violation], rules: &[Rule]) -> String {
    v.iter()
        .map(|v| {
            let why = rules
                .iter()
                .find(|r| r.from == v.from)
                .map(|r| r.why)
                .unwrap_or("");
            format!(
                "src/{}:{}: {} → {} is forbidden ({why})",
                v.file.display(),
                v.line,
                v.from,
                v.to
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn manifest(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn src_keeps_the_layers() {
    let v = check(&manifest("src"), RULES);
    assert!(v.is_empty(), "forbidden imports:\n{}", report(&v, RULES));
}

#[test]
fn every_rule_names_an_existing_module() {
    // A renamed module must not silently turn its rules off.
    let tops: BTreeSet<String> = graph(&manifest("src"))
        .into_values()
        .map(|(top, _)| top)
        .collect();
    for r in RULES {
        assert!(tops.contains(r.from), "rule for unknown module {}", r.from);
        let (Kind::Forbid(list) | Kind::Only(list)) = r.kind;
        for m in list {
            assert!(
                tops.contains(*m),
                "rule {} names unknown module {m}",
                r.from
            );
        }
    }
}

#[test]
fn the_graph_sees_known_uses() {
    // Guards against a checker that finds nothing: these uses exist today.
    let g = graph(&manifest("src"));
    let uses_of = |file: &str| -> BTreeSet<String> {
        g.get(Path::new(file))
            .unwrap_or_else(|| panic!("{file} exists"))
            .1
            .iter()
            .map(|u| u.to.clone())
            .collect()
    };
    assert!(uses_of("http/mod.rs").contains("control"));
    assert!(uses_of("control/mod.rs").contains("node"));
    assert!(uses_of("daemon.rs").contains("http"));
    assert!(
        uses_of("main.rs").contains("cli"),
        "igloo:: paths in the binary"
    );
}

/// The fixture tree: a small `src/` with forbidden uses in every form the checker must
/// catch, next to allowed uses and look-alikes in comments and strings.
fn fixture_violations() -> Vec<(String, String, String)> {
    check(&manifest("tests/fixtures/architecture/src"), RULES)
        .into_iter()
        .map(|v| (v.file.display().to_string(), v.from, v.to))
        .collect()
}

#[test]
fn checker_reports_forbidden_imports_in_the_fixture() {
    let got = fixture_violations();
    let want = |file: &str, from: &str, to: &str| {
        assert!(
            got.contains(&(file.to_string(), from.to_string(), to.to_string())),
            "the checker missed {file}: {from} → {to}; it reported {got:#?}"
        );
    };
    // use crate::http::AppState;
    want("auth/mod.rs", "auth", "http");
    // An inline path in an expression.
    want("config.rs", "config", "node");
    // A grouped use.
    want("config.rs", "config", "keyset");
    want("config.rs", "config", "cli");
    // `super::super::` climbing out of frostr/v1/.
    want("frostr/v1/sign.rs", "frostr", "frostr_v2");
    // Inside a #[cfg(test)] module.
    want("relay/mod.rs", "relay", "node");
    want("store/mod.rs", "store", "http");
}

#[test]
fn checker_ignores_comments_strings_and_allowed_uses() {
    let got = fixture_violations();
    // Every reported violation is one of the planted ones: nothing from the comments, doc
    // links, strings, raw strings, or allowed uses (store → secrets, frostr_v2 → frostr).
    let planted: BTreeSet<(&str, &str, &str)> = [
        ("auth/mod.rs", "auth", "http"),
        ("config.rs", "config", "node"),
        ("config.rs", "config", "keyset"),
        ("config.rs", "config", "cli"),
        ("frostr/v1/sign.rs", "frostr", "frostr_v2"),
        ("relay/mod.rs", "relay", "node"),
        ("store/mod.rs", "store", "http"),
    ]
    .into_iter()
    .collect();
    for (f, a, b) in &got {
        assert!(
            planted.contains(&(f.as_str(), a.as_str(), b.as_str())),
            "unexpected report {f}: {a} → {b}"
        );
    }
    assert_eq!(got.len(), planted.len(), "{got:#?}");
}

#[test]
fn stripping_keeps_lines_and_drops_literals() {
    let code = "let a = \"crate::http\"; // crate::http\nlet c = '\"'; let r = r#\"crate::x\"#;\n/* crate::y\n */ use crate::z;";
    let s = strip(code);
    assert_eq!(s.lines().count(), code.lines().count());
    assert!(!s.contains("http") && !s.contains("crate::x") && !s.contains("crate::y"));
    assert!(s.contains("use crate::z;"));
    let found = uses(code, &["auth".to_string()], "crate");
    assert_eq!(
        found,
        vec![Use {
            line: 4,
            to: "z".into()
        }]
    );
}
