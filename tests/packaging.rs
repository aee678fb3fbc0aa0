//! The appliance packaging (Dockerfile, umbrel/, start9/, buildroot/) against the binary it
//! ships and against the stores' own rules: versions equal Cargo.toml's, every environment
//! variable a package sets is one igloo accepts with a value it accepts, ports and health checks
//! match, the systemd watchdog leaves room for igloo's own node restarts, every file a package
//! names exists, the umbrel-apps linter rules (reproduced here), and the systemd units' verify
//! and exposure scores (with `systemd-analyze`, skipped with a message where it is missing).
//! Each rule is also run on a bad fixture, so it is known to say no. Hermetic: reads the
//! repository, runs the built binary, serves on 127.0.0.1 port 0.

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use clap::CommandFactory;
use igloo::cli::parse_cli;
use igloo::config::{Cli, Config, TlsMode};
use igloo::node::health::HealthSettings;
use yaml_serde::Value;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

fn yaml(rel: &str) -> Value {
    yaml_serde::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"))
}

/// `v[k1][k2]…`, or a panic naming the missing path.
fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| {
        v.get(*k)
            .unwrap_or_else(|| panic!("missing key {:?} (looking for {path:?})", k))
    })
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

type Env = Vec<(String, String)>;

/// Validates `env` exactly as igloo would read it from its environment: each name must be the
/// env name of a setting, and the whole set must pass `Config` validation. (Passed as flags, so
/// the test's own environment cannot interfere.)
fn config_from_env(env: &Env) -> Result<Config, String> {
    let cmd = Cli::command();
    let mut args = vec!["igloo".to_string()];
    // An environment holds one value per name: a later layer (ENV, Environment=) wins.
    let merged: BTreeMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for (name, value) in merged {
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_env().and_then(|e| e.to_str()) == Some(name))
            .ok_or_else(|| format!("{name} is not a setting igloo accepts"))?;
        let long = arg
            .get_long()
            .ok_or_else(|| format!("{name} has no flag"))?;
        args.push(format!("--{long}={value}"));
    }
    match parse_cli(args) {
        Ok((_, Some(config))) => Ok(config),
        Ok((_, None)) => Err("no configuration parsed".into()),
        Err((_, msg)) => Err(msg),
    }
}

fn lookup<'a>(env: &'a Env, name: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

// ---- Dockerfile ----

/// Dockerfile instructions with `\` continuations joined, comments dropped.
fn dockerfile_instructions(rel: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in read(rel).lines() {
        let t = line.trim();
        if cur.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head);
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    out
}

/// Instructions of the last stage (the image that ships).
fn final_stage(rel: &str) -> Vec<String> {
    let all = dockerfile_instructions(rel);
    let last_from = all
        .iter()
        .rposition(|i| i.starts_with("FROM "))
        .unwrap_or_else(|| panic!("{rel} has no FROM"));
    all[last_from..].to_vec()
}

fn dockerfile_env(rel: &str) -> Env {
    final_stage(rel)
        .iter()
        .filter_map(|i| i.strip_prefix("ENV "))
        .flat_map(|rest| {
            rest.split_whitespace()
                .map(|kv| {
                    let (k, v) = kv
                        .split_once('=')
                        .unwrap_or_else(|| panic!("ENV {kv:?} is not KEY=VALUE"));
                    (k.to_string(), v.to_string())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn instruction<'a>(stage: &'a [String], name: &str) -> Vec<&'a str> {
    stage
        .iter()
        .filter_map(|i| i.strip_prefix(name).map(str::trim))
        .collect()
}

// ---- umbrel ----

fn umbrel_env() -> Env {
    let compose = yaml("umbrel/igloo/docker-compose.yml");
    let env = at(&compose, &["services", "web", "environment"])
        .as_mapping()
        .expect("web.environment is a mapping");
    env.iter()
        .map(|(k, v)| {
            // umbrelOS fills ${APP_PASSWORD} in; any non-empty value stands for it here.
            let value = text(v).replace("${APP_PASSWORD}", "umbrel-app-password");
            (text(k), value)
        })
        .collect()
}

// ---- systemd unit ----

/// `Key=Value` lines of a unit file, in order (repeated keys kept).
fn unit_entries(rel: &str) -> Vec<(String, String)> {
    read(rel)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("unit line {l:?} is not Key=Value"));
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect()
}

fn unit_value<'a>(entries: &'a [(String, String)], key: &str) -> &'a str {
    entries
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("the unit has no {key}="))
}

/// A systemd time span ("5min", "45s", "1min 30s", "300"), as systemd.time(7) reads it.
fn timespan(s: &str) -> Duration {
    let mut total = Duration::ZERO;
    for tok in s.split_whitespace() {
        let split = tok.find(|c: char| !c.is_ascii_digit()).unwrap_or(tok.len());
        let (num, unit) = tok.split_at(split);
        let n: u64 = num
            .parse()
            .unwrap_or_else(|_| panic!("bad time span {s:?}"));
        total += match unit {
            "" | "s" | "sec" | "second" | "seconds" => Duration::from_secs(n),
            "ms" | "msec" => Duration::from_millis(n),
            "us" | "usec" => Duration::from_micros(n),
            "m" | "min" | "minute" | "minutes" => Duration::from_secs(n * 60),
            "h" | "hr" | "hour" | "hours" => Duration::from_secs(n * 3600),
            _ => panic!("unknown time unit in {s:?}"),
        };
    }
    total
}

const UNIT: &str = "buildroot/package/igloo/igloo.service";

fn unit_env() -> Env {
    unit_entries(UNIT)
        .into_iter()
        .filter(|(k, _)| k == "Environment")
        .map(|(_, v)| {
            let (k, v) = v
                .split_once('=')
                .unwrap_or_else(|| panic!("Environment={v} is not NAME=value"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// `NAME=value` lines, commented out or not, of an env file.
fn env_file(rel: &str) -> Env {
    read(rel)
        .lines()
        .map(|l| l.trim().trim_start_matches('#').trim())
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn make_var(rel: &str, name: &str) -> String {
    read(rel)
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("{rel} does not set {name}"))
}

// ---- start9 (StartOS 0.4, TypeScript on @start9labs/start-sdk) ----

/// `export const NAME = <literal>` values of a TypeScript file: strings ('…' or "…"), numbers
/// (with `_` separators) and `String(<other const>)`.
fn ts_consts(src: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in src.lines() {
        let Some(rest) = line.trim().strip_prefix("export const ") else {
            continue;
        };
        let Some((name, value)) = rest.split_once(" = ") else {
            continue;
        };
        if let Some(v) = ts_literal(value.trim(), &out) {
            out.insert(name.trim().to_string(), v);
        }
    }
    out
}

/// One TypeScript value: a quoted string, a number, a known const or `String(const)`.
fn ts_literal(v: &str, consts: &BTreeMap<String, String>) -> Option<String> {
    let v = v.trim().trim_end_matches(',').trim();
    if v.len() >= 2
        && ((v.starts_with('\'') && v.ends_with('\'')) || (v.starts_with('"') && v.ends_with('"')))
    {
        return Some(v[1..v.len() - 1].to_string());
    }
    if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return Some(v.replace('_', ""));
    }
    if let Some(inner) = v.strip_prefix("String(").and_then(|s| s.strip_suffix(')')) {
        return consts.get(inner.trim()).cloned();
    }
    consts.get(v).cloned()
}

/// The body of `export const <name> = { … }` as (key, value) pairs, values resolved.
fn ts_object(src: &str, name: &str, consts: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let start = format!("export const {name} = {{");
    let body = src
        .split_once(&start)
        .unwrap_or_else(|| panic!("no `{start}`"))
        .1;
    let body = &body[..body.find("\n}").expect("object end")];
    body.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap_or_else(|| panic!("{l:?}"));
            let value = ts_literal(v, consts).unwrap_or_else(|| panic!("cannot read {l:?}"));
            (k.trim().to_string(), value)
        })
        .collect()
}

fn start9_consts() -> BTreeMap<String, String> {
    ts_consts(&read("start9/startos/utils.ts"))
}

fn start9_const(name: &str) -> String {
    start9_consts()
        .get(name)
        .cloned()
        .unwrap_or_else(|| panic!("start9/startos/utils.ts exports no {name}"))
}

/// The settings the StartOS daemon runs igloo with (`iglooEnv` in utils.ts).
fn start9_env() -> Env {
    ts_object(
        &read("start9/startos/utils.ts"),
        "iglooEnv",
        &start9_consts(),
    )
}

/// The version the package's version graph calls current, e.g. `0.1.0:0`.
fn start9_version() -> String {
    let index = read("start9/startos/versions/index.ts");
    let current = index
        .lines()
        .find_map(|l| l.trim().strip_prefix("current:"))
        .expect("versions/index.ts names the current version")
        .trim()
        .trim_end_matches(',')
        .to_string();
    let dir = repo("start9/startos/versions");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let src = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        if src.contains(&format!("export const {current} = VersionInfo.of(")) {
            let v = src
                .lines()
                .find_map(|l| l.trim().strip_prefix("version:"))
                .expect("VersionInfo has a version");
            return ts_literal(v, &BTreeMap::new()).expect("a quoted version");
        }
    }
    panic!("no file in start9/startos/versions defines {current}")
}

// ---------------------------------------------------------------------------------------------

#[test]
fn the_env_check_rejects_unknown_names_and_bad_values() {
    // The checks below are only worth something if this one can say no.
    let ok = |k: &str, v: &str| config_from_env(&vec![(k.to_string(), v.to_string())]);
    assert!(ok("HOST_PORT", "8002").is_ok());
    assert!(ok("HOST_PROT", "8002").unwrap_err().contains("HOST_PROT"));
    assert!(ok("HOST_PORT", "eighty").is_err());
    assert!(ok("IGLOO_TLS", "on").is_err());
    assert_eq!(timespan("1min 30s"), Duration::from_secs(90));
    assert_eq!(timespan("300"), Duration::from_secs(300));
    // The TypeScript reader resolves constants and refuses what it cannot read.
    let src = "export const port = 8_002\nexport const dir = '/data'\nexport const env = {\n  A: String(port),\n  B: dir,\n  C: \"x\",\n}\n";
    let consts = ts_consts(src);
    assert_eq!(
        ts_object(src, "env", &consts),
        vec![
            ("A".to_string(), "8002".to_string()),
            ("B".into(), "/data".into()),
            ("C".into(), "x".into())
        ]
    );
    let bad = std::panic::catch_unwind(|| {
        ts_object(
            "export const env = {\n  A: someCall(),\n}\n",
            "env",
            &BTreeMap::new(),
        )
    });
    assert!(bad.is_err());
}

#[test]
fn every_manifest_version_is_cargo_tomls() {
    let umbrel = yaml("umbrel/igloo/umbrel-app.yml");
    assert_eq!(text(at(&umbrel, &["version"])), VERSION, "umbrel-app.yml");

    let compose = yaml("umbrel/igloo/docker-compose.yml");
    let image = text(at(&compose, &["services", "web", "image"]));
    let tag = image
        .split('@')
        .next()
        .and_then(|i| i.rsplit_once(':'))
        .map(|(_, t)| t.to_string());
    assert_eq!(tag.as_deref(), Some(VERSION), "umbrel image tag of {image}");

    // StartOS: upstream version `:` package revision.
    let start9 = start9_version();
    assert_eq!(
        start9.split_once(':').map(|(up, _)| up),
        Some(VERSION),
        "start9 version {start9}"
    );

    assert_eq!(
        make_var("buildroot/package/igloo/igloo.mk", "IGLOO_VERSION"),
        VERSION,
        "igloo.mk"
    );
}

#[test]
fn every_env_variable_the_packages_set_is_accepted() {
    let sets: Vec<(&str, Env)> = vec![
        ("Dockerfile", dockerfile_env("Dockerfile")),
        ("umbrel docker-compose.yml", umbrel_env()),
        ("start9 iglooEnv", start9_env()),
        ("igloo.service", unit_env()),
        (
            "igloo.env.example",
            env_file("buildroot/board/igloo/boot/igloo.env.example"),
        ),
    ];
    for (name, env) in &sets {
        assert!(!env.is_empty(), "{name}: no variables found");
        if let Err(e) = config_from_env(env) {
            panic!("{name}: {e}");
        }
    }
    // The Buildroot first-boot script writes an env file igloo must accept.
    let firstboot = read("buildroot/package/igloo/igloo-firstboot");
    assert!(firstboot.contains("ADMIN_SECRET=%s"));
}

#[test]
fn settings_fit_each_platform() {
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    // Docker: LAN-reachable, data in the volume; TLS left to its default (self-signed).
    let docker = config_from_env(&dockerfile_env("Dockerfile")).unwrap();
    assert_eq!(docker.bind.ip(), any);
    assert_eq!(docker.db_path, Path::new("/data"));
    assert!(docker.is_production());
    assert_eq!(docker.tls, TlsMode::SelfSigned);

    // Umbrel and Start9 terminate TLS in front of igloo and forward plain HTTP. Neither skips
    // the admin secret: Umbrel feeds it the app password, Start9 uses the setup code.
    let umbrel = config_from_env(&umbrel_env()).unwrap();
    assert_eq!(umbrel.bind.ip(), any);
    assert_eq!(umbrel.tls, TlsMode::Off);
    assert!(umbrel.auth.enabled && !umbrel.auth.skip_admin_secret_validation);
    assert!(umbrel.auth.admin_secret.is_some());
    let compose_src = read("umbrel/igloo/docker-compose.yml");
    assert!(!compose_src.contains("SKIP_ADMIN_SECRET_VALIDATION"));
    assert!(compose_src.contains("ADMIN_SECRET: ${APP_PASSWORD}"));
    let app = yaml("umbrel/igloo/umbrel-app.yml");
    assert_eq!(
        at(&app, &["deterministicPassword"]),
        &Value::Bool(true),
        "umbrelOS shows the owner APP_PASSWORD only with deterministicPassword"
    );
    let start9 = config_from_env(&start9_env()).unwrap();
    assert_eq!(start9.bind.ip(), any);
    assert_eq!(start9.tls, TlsMode::Off);
    assert!(start9.auth.enabled && !start9.auth.skip_admin_secret_validation);
    assert!(
        start9.auth.admin_secret.is_none(),
        "the setup code creates the admin"
    );

    // The umbrel data volume and the start9 data mount are where igloo keeps its data.
    let compose = yaml("umbrel/igloo/docker-compose.yml");
    let volumes = at(&compose, &["services", "web", "volumes"])
        .as_sequence()
        .expect("volumes list");
    let data_volume = volumes
        .iter()
        .map(text)
        .find(|v| v.starts_with("${APP_DATA_DIR}/"))
        .expect("a volume under ${APP_DATA_DIR}");
    assert_eq!(
        data_volume.rsplit_once(':').map(|(_, c)| PathBuf::from(c)),
        Some(umbrel.db_path.clone())
    );
    assert_eq!(PathBuf::from(start9_const("dataDir")), start9.db_path);
    let main_ts = read("start9/startos/main.ts");
    assert!(main_ts.contains("mountpoint: dataDir"));
    assert!(main_ts.contains("volumeId: 'main'"));

    // Both platforms wait longer than igloo's own drain before killing it.
    let grace = timespan(&text(at(
        &compose,
        &["services", "web", "stop_grace_period"],
    )));
    assert!(
        grace > umbrel.shutdown_timeout,
        "umbrel stop_grace_period {grace:?}"
    );
    let sigterm = Duration::from_millis(start9_const("sigtermTimeout").parse().unwrap());
    assert!(
        sigterm > start9.shutdown_timeout,
        "start9 sigtermTimeout {sigterm:?}"
    );
    assert!(main_ts.contains("sigtermTimeout,"));

    // Buildroot: the unit's data path is the StateDirectory and the data partition's mount.
    let pi = config_from_env(&unit_env()).unwrap();
    let entries = unit_entries(UNIT);
    let state = Path::new("/var/lib").join(unit_value(&entries, "StateDirectory"));
    assert_eq!(pi.db_path, state);
    assert_eq!(
        unit_value(&entries, "WorkingDirectory"),
        state.to_str().unwrap()
    );
    let post_build = read("buildroot/board/igloo/post-build.sh");
    let data_mount = post_build
        .lines()
        .find(|l| l.contains("LABEL=igloo-data") && l.contains('\t'))
        .expect("fstab line for the data partition");
    assert_eq!(data_mount.split('\t').nth(1), state.to_str());
    let genimage = read("buildroot/board/igloo/genimage.cfg.in");
    assert!(genimage.contains("label = \"igloo-data\""));
    // post-image.sh replaces every #BOOT_FILES# with the file list: one place, in `files`.
    assert_eq!(genimage.matches("#BOOT_FILES#").count(), 1);
    assert!(genimage.contains("files = {\n#BOOT_FILES#\n"));
}

#[test]
fn ports_match_the_binary() {
    let default = config_from_env(&Vec::new()).unwrap();
    let port = default.bind.port();

    let stage = final_stage("Dockerfile");
    assert_eq!(
        instruction(&stage, "EXPOSE "),
        vec![port.to_string().as_str()]
    );
    let docker = config_from_env(&dockerfile_env("Dockerfile")).unwrap();
    assert_eq!(docker.bind.port(), port);

    // Umbrel: the container keeps igloo's port; umbrelOS opens 8009 on the host (8002 is
    // route96's in the app store).
    let umbrel_app = yaml("umbrel/igloo/umbrel-app.yml");
    let compose = yaml("umbrel/igloo/docker-compose.yml");
    let umbrel = config_from_env(&umbrel_env()).unwrap();
    assert_eq!(umbrel.bind.port(), port);
    assert_eq!(text(at(&umbrel_app, &["port"])), "8009");
    assert_eq!(
        text(at(
            &compose,
            &["services", "app_proxy", "environment", "APP_PORT"]
        )),
        umbrel.bind.port().to_string()
    );
    // The official umbrel-apps naming: <app-id>_<service>_1.
    let id = text(at(&umbrel_app, &["id"]));
    assert_eq!(
        text(at(
            &compose,
            &["services", "app_proxy", "environment", "APP_HOST"]
        )),
        format!("{id}_web_1")
    );

    // Start9: the interface binds the port igloo listens on.
    let start9 = config_from_env(&start9_env()).unwrap();
    assert_eq!(start9.bind.port(), port);
    assert_eq!(start9_const("uiPort"), port.to_string());
    assert!(
        read("start9/startos/interfaces.ts").contains("bindPort(uiPort, { protocol: 'http' })")
    );

    let pi = config_from_env(&unit_env()).unwrap();
    assert_eq!(pi.bind.port(), port);
}

#[test]
fn health_checks_run_igloo_healthcheck() {
    let stage = final_stage("Dockerfile");
    let hc = instruction(&stage, "HEALTHCHECK ");
    assert_eq!(hc.len(), 1, "one HEALTHCHECK");
    let cmd_json = hc[0].split_once("CMD ").expect("HEALTHCHECK CMD").1;
    let cmd: Vec<String> = serde_json::from_str(cmd_json).expect("exec-form CMD");
    assert!(
        cmd[0].ends_with("/igloo") && cmd[1..] == ["healthcheck"],
        "{cmd:?}"
    );
    // The binary the image installs is the one the health check and entrypoint call.
    assert!(
        stage
            .iter()
            .any(|i| i.starts_with("COPY --from=builder") && i.ends_with(&cmd[0]))
    );

    // StartOS runs `igloo healthcheck` in the daemon's own subcontainer, on the image's binary.
    assert_eq!(start9_const("igloo"), cmd[0]);
    let main_ts = read("start9/startos/main.ts");
    let check = main_ts
        .split_once("sub.exec([igloo, 'healthcheck'], {")
        .expect("the ready check runs `igloo healthcheck` in the daemon's subcontainer")
        .1;
    assert!(
        check[..check.find('}').unwrap()].contains("env: iglooEnv"),
        "with the daemon's settings (a wildcard bind would otherwise mean TLS)"
    );
    assert!(main_ts.contains("command: [igloo, 'serve']"));

    let help = Command::new(env!("CARGO_BIN_EXE_igloo"))
        .args(["healthcheck", "--help"])
        .env_clear()
        .output()
        .expect("run igloo");
    assert!(help.status.success(), "igloo healthcheck --help failed");
    assert!(String::from_utf8_lossy(&help.stdout).contains("/api/status"));
}

/// Runs `igloo healthcheck` with `env` (HOST_PORT pointed at `port`) in an empty directory.
fn run_healthcheck(env: &Env, port: u16) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_igloo"))
        .arg("healthcheck")
        .env_clear()
        .envs(
            env.iter()
                .filter(|(k, _)| k != "HOST_PORT" && k != "DB_PATH")
                .map(|(k, v)| (k, v)),
        )
        .env("HOST_PORT", port.to_string())
        .env("DB_PATH", dir.path().join("data"))
        .current_dir(dir.path())
        .output()
        .expect("run igloo healthcheck");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[test]
fn container_health_checks_pass_against_a_live_server_and_fail_without_one() {
    for (name, env) in [
        ("Dockerfile", dockerfile_env("Dockerfile")),
        ("umbrel", umbrel_env()),
        ("start9", start9_env()),
    ] {
        let tls = match lookup(&env, "IGLOO_TLS") {
            Some(mode) => mode.to_string(),
            // What the image gets on a wildcard bind by default.
            None => "self-signed".to_string(),
        };
        let srv = common::TestServer::start(&["--tls", &tls]);
        let port = srv.addr.port();
        let (ok, said) = run_healthcheck(&env, port);
        assert!(ok, "{name}: healthcheck against a running server: {said}");
        srv.stop().unwrap();
        let (ok, said) = run_healthcheck(&env, port);
        assert!(
            !ok,
            "{name}: healthcheck with the server gone passed: {said}"
        );
    }
}

#[test]
fn systemd_unit_matches_what_igloo_sends() {
    let entries = unit_entries(UNIT);
    assert_eq!(unit_value(&entries, "Type"), "notify");
    assert!(matches!(
        unit_value(&entries, "NotifyAccess"),
        "main" | "all"
    ));

    let watchdog = timespan(unit_value(&entries, "WatchdogSec"));
    let usec = watchdog.as_micros().to_string();
    // igloo pings at half the period systemd hands it.
    let interval = igloo::systemd::watchdog_interval_from(Some(&usec), None, 1)
        .expect("igloo turns the watchdog on for this WatchdogSec");
    assert!(interval < watchdog && interval >= Duration::from_secs(1));

    // Pings stop once the node is unhealthy; igloo restarts the node itself at `restart_after`
    // (seen on the next check). systemd must not kill the process before that chance.
    let config = config_from_env(&unit_env()).unwrap();
    let h = HealthSettings::from_config(&config);
    let own_restart_by = h.restart_after - h.unhealthy_after + h.check_interval;
    assert!(
        watchdog > own_restart_by,
        "WatchdogSec {watchdog:?} would pre-empt igloo's own node restart ({own_restart_by:?} after pings stop)"
    );

    // Stopping: igloo drains for IGLOO_SHUTDOWN_TIMEOUT, then closes its store.
    let stop = timespan(unit_value(&entries, "TimeoutStopSec"));
    assert!(stop > config.shutdown_timeout + Duration::from_secs(5));

    // The first-boot secret lands in a file the unit reads.
    let firstboot = read("buildroot/package/igloo/igloo-firstboot");
    let var = |name: &str| {
        firstboot
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("igloo-firstboot sets no {name}"))
            .trim_matches('"')
            .to_string()
    };
    let written = var("FILE").replace("$DIR", &var("DIR"));
    let env_files: Vec<&str> = entries
        .iter()
        .filter(|(k, _)| k == "EnvironmentFile")
        .map(|(_, v)| v.trim_start_matches('-'))
        .collect();
    assert!(
        env_files.contains(&written.as_str()),
        "igloo-firstboot writes {written}, the unit reads {env_files:?}"
    );

    // ExecStart runs what the cargo package installs ($(TARGET_DIR)/usr/bin) in serve mode.
    assert_eq!(unit_value(&entries, "ExecStart"), "/usr/bin/igloo serve");
    // The unit's user is the one igloo.mk creates.
    let user = unit_value(&entries, "User");
    let mk = read("buildroot/package/igloo/igloo.mk");
    let users_line = mk
        .lines()
        .skip_while(|l| !l.starts_with("define IGLOO_USERS"))
        .nth(1)
        .expect("IGLOO_USERS body");
    let fields: Vec<&str> = users_line.split_whitespace().collect();
    assert_eq!(fields.first().copied(), Some(user));
    assert_eq!(fields.get(2).copied(), Some(unit_value(&entries, "Group")));
    assert_ne!(user, "root");
}

#[test]
fn containers_run_as_non_root_and_build_from_the_repo() {
    let stage = final_stage("Dockerfile");
    let users = instruction(&stage, "USER ");
    let user = users.last().expect("a USER in the final stage");
    assert!(!matches!(*user, "root" | "0" | "0:0"), "runs as {user}");

    let all = dockerfile_instructions("Dockerfile");
    assert!(
        all.iter()
            .any(|i| i.contains("cargo build --release --locked")),
        "release build with the lockfile"
    );
    assert!(all.iter().filter(|i| i.starts_with("FROM ")).count() >= 2);
    // Everything the builder copies exists, and covers what Cargo.toml names.
    let copied: Vec<String> = all
        .iter()
        .filter(|i| i.starts_with("COPY ") && !i.contains("--from="))
        .flat_map(|i| {
            let parts: Vec<&str> = i.split_whitespace().skip(1).collect();
            parts[..parts.len() - 1]
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    for src in &copied {
        assert!(repo(src).exists(), "Dockerfile copies missing {src}");
    }
    let cargo_toml = read("Cargo.toml");
    let needed = ["Cargo.toml", "Cargo.lock", "src", "static"];
    for n in needed {
        assert!(
            copied.iter().any(|c| c == n),
            "Dockerfile does not copy {n}"
        );
    }
    if cargo_toml.contains("[[bench]]") {
        assert!(
            copied.iter().any(|c| c == "benches"),
            "Cargo.toml names benches"
        );
    }
    let ignored = read(".dockerignore");
    for line in ignored.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            !copied.iter().any(|c| c == line.trim()),
            ".dockerignore hides {line}, which the build copies"
        );
    }
    // StartOS runs the same image; only the oneshot that hands the volume to igloo is root.
    assert_eq!(start9_const("iglooUser"), "igloo");
    let main_ts = read("start9/startos/main.ts");
    assert_eq!(
        main_ts.matches("user: iglooUser").count(),
        2,
        "daemon and health check"
    );
    assert_eq!(main_ts.matches("user: 'root'").count(), 1);
    assert!(main_ts.contains("command: ['chown', '-R', `${iglooUser}:${iglooUser}`, dataDir]"));
    let run = stage.iter().find(|i| i.starts_with("RUN ")).expect("RUN");
    assert!(run.contains("useradd --uid 1000 --gid 1000") && run.contains(" igloo"));
}
#[test]
fn manifests_name_files_that_exist() {
    let umbrel_app = yaml("umbrel/igloo/umbrel-app.yml");
    for key in [
        "manifestVersion",
        "id",
        "name",
        "tagline",
        "description",
        "icon",
        "port",
    ] {
        at(&umbrel_app, &[key]);
    }
    assert!(repo("umbrel/igloo/data/.gitkeep").exists());

    // Buildroot: the external tree's name, sources and every referenced file.
    let desc = read("buildroot/external.desc");
    assert!(desc.lines().any(|l| l.trim() == "name: IGLOO"));
    let mut br_files = vec![
        "buildroot/Config.in".to_string(),
        "buildroot/external.mk".into(),
        "buildroot/package/igloo/igloo.mk".into(),
    ];
    br_files.extend(DEFCONFIGS.iter().map(|d| format!("buildroot/configs/{d}")));
    let mut referenced = BTreeMap::new();
    for f in &br_files {
        for part in read(f).split("$(BR2_EXTERNAL_IGLOO_PATH)/").skip(1) {
            let p: String = part
                .chars()
                .take_while(|c| !matches!(c, '"' | ')' | '\n' | ' '))
                .collect();
            if !p.contains('*') {
                referenced.insert(p, f);
            }
        }
        for part in read(f).split("$BR2_EXTERNAL_IGLOO_PATH/").skip(1) {
            let p: String = part.chars().take_while(|c| *c != '"').collect();
            referenced.insert(p, f);
        }
    }
    assert!(referenced.len() >= 9, "{referenced:?}");
    for (p, from) in &referenced {
        assert!(
            repo("buildroot").join(p).exists(),
            "{from} names missing {p}"
        );
    }
    let mk = read("buildroot/package/igloo/igloo.mk");
    assert!(mk.contains("$(eval $(cargo-package))"));
    for part in mk.split("$(IGLOO_PKGDIR)/").skip(1) {
        let f: String = part.chars().take_while(|c| !c.is_whitespace()).collect();
        assert!(
            repo("buildroot/package/igloo").join(&f).exists(),
            "igloo.mk installs missing {f}"
        );
    }
    let pkg_config = read("buildroot/package/igloo/Config.in");
    assert!(pkg_config.contains("config BR2_PACKAGE_IGLOO\n"));
    use std::os::unix::fs::PermissionsExt;
    for script in [
        "buildroot/board/igloo/post-build.sh",
        "buildroot/board/igloo/post-image.sh",
        "buildroot/package/igloo/igloo-firstboot",
        "buildroot/update-hash.sh",
        "umbrel/pin-image.sh",
    ] {
        let mode = std::fs::metadata(repo(script))
            .unwrap()
            .permissions()
            .mode();
        assert!(mode & 0o111 != 0, "{script} is not executable");
        // POSIX sh syntax (the images and the Pi have no bash).
        let syntax = Command::new("sh")
            .arg("-n")
            .arg(repo(script))
            .output()
            .expect("run sh -n");
        assert!(
            syntax.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&syntax.stderr)
        );
    }
}

#[test]
fn start9_is_a_startos_0_4_package_on_the_sdk() {
    // The 0.3 wrapper is gone: StartOS 0.4 does not install it.
    for old in ["manifest.yaml", "docker_entrypoint.sh", "Dockerfile"] {
        assert!(!repo("start9").join(old).exists(), "start9/{old} is 0.3");
    }
    // The SDK's file layout, each file exporting what StartOS calls.
    for (file, export) in [
        (
            "startos/index.ts",
            "export const manifest = buildManifest(versionGraph",
        ),
        (
            "startos/manifest/index.ts",
            "export const manifest = setupManifest({",
        ),
        ("startos/main.ts", "export const main = sdk.setupMain("),
        (
            "startos/interfaces.ts",
            "export const setInterfaces = sdk.setupInterfaces(",
        ),
        ("startos/backups.ts", "sdk.setupBackups("),
        (
            "startos/init/index.ts",
            "export const init = sdk.setupInit(",
        ),
        ("startos/versions/index.ts", "VersionGraph.of({"),
        (
            "startos/actions/index.ts",
            "export const actions = sdk.Actions.of()",
        ),
    ] {
        let src = read(&format!("start9/{file}"));
        assert!(src.contains(export), "start9/{file} lacks `{export}`");
    }
    let index = read("start9/startos/index.ts");
    for name in ["createBackup", "main", "init, uninit", "actions"] {
        assert!(
            index.contains(&format!("export {{ {name} }}")),
            "index.ts exports {name}"
        );
    }

    // Pinned SDK (the registry serves 2.0.9), locked.
    let pkg: serde_json::Value = serde_json::from_str(&read("start9/package.json")).unwrap();
    assert_eq!(pkg["dependencies"]["@start9labs/start-sdk"], "2.0.9");
    for script in ["build", "check", "lint"] {
        assert!(
            pkg["scripts"][script].is_string(),
            "package.json script {script}"
        );
    }
    let lock: serde_json::Value = serde_json::from_str(&read("start9/package-lock.json")).unwrap();
    assert_eq!(
        lock["packages"]["node_modules/@start9labs/start-sdk"]["version"],
        "2.0.9"
    );
    let ignore = read("start9/.gitignore");
    assert!(ignore.lines().any(|l| l.trim() == "node_modules/"));

    // Manifest: id, license (the file ships beside it), one data volume, both arches built
    // from the top-level Dockerfile.
    let manifest = read("start9/startos/manifest/index.ts");
    for needle in [
        "id: 'igloo',",
        "license: 'MIT',",
        "volumes: ['main'],",
        "arch: ['x86_64', 'aarch64'],",
        "source: { dockerBuild: { dockerfile: '../Dockerfile', workdir: '..' } },",
    ] {
        assert!(manifest.contains(needle), "manifest lacks {needle}");
    }
    assert!(repo("start9/LICENSE").exists());
    assert_eq!(read("start9/LICENSE"), read("LICENSE"));
    assert!(repo("start9/icon.svg").exists() && repo("start9/instructions.md").exists());

    // Backups cover the data volume; actions: the setup code (igloo's own subcommand) and the
    // owner passphrase (igloo's admin API).
    assert!(read("start9/startos/backups.ts").contains("sdk.Backups.ofVolumes('main')"));
    let actions = read("start9/startos/actions/index.ts");
    assert!(
        actions.contains(".addAction(showSetupCode)")
            && actions.contains(".addAction(setPassphrase)")
    );
    let setup = read("start9/startos/actions/setupCode.ts");
    assert!(setup.contains("sub.exec([igloo, 'setup-code'], {"));
    assert!(setup.contains("masked: true"), "the code is a secret");
    let pass = read("start9/startos/actions/passphrase.ts");
    for route in [
        "'/api/auth/login'",
        "'/api/admin/passphrase'",
        "'/api/auth/logout'",
    ] {
        assert!(pass.contains(route), "passphrase action calls {route}");
    }
}

// ---- the umbrel-apps linter, reproduced ----
//
// getumbrel/umbrel-cli `lint` (what the umbrel-apps CI runs): the umbrel-app.yml zod schema,
// `filled_out_release_notes_on_first_submission`, and for docker-compose.yml
// `invalid_docker_image_name`, `invalid_yaml_boolean_value`, `invalid_app_data_dir_volume_mount`,
// `missing_file_or_directory`, `external_port_mapping`, `invalid_container_user`,
// `container_network_mode_host`, and `empty_app_data_directory` for the folder. The compose
// JSON-schema part is `docker-compose config -q` (see umbrel_compose_config_is_clean).

/// A finding: (severity, rule id, detail).
type Finding = (&'static str, &'static str, String);

fn is_url(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/') && !rest.contains(' '))
    })
}

/// umbrel-app.yml against the umbrel-cli schema.
fn lint_umbrel_app_yml(src: &str, new_submission: bool) -> Vec<Finding> {
    let v: Value = match yaml_serde::from_str(src) {
        Ok(v) => v,
        Err(e) => return vec![("error", "invalid_yaml_syntax", e.to_string())],
    };
    let mut out = Vec::new();
    let mut err = |key: &str, why: &str| out.push(("error", "schema", format!("{key}: {why}")));
    let get = |k: &str| v.get(k);
    let str_len = |k: &str, min: usize, max: usize| -> Option<String> {
        match get(k) {
            None => Some("is required".into()),
            Some(Value::String(s)) if (min..=max).contains(&s.chars().count()) => None,
            Some(Value::String(_)) => Some(format!("length must be {min}..={max}")),
            Some(_) => Some("must be a string".into()),
        }
    };
    match get("manifestVersion").and_then(Value::as_f64) {
        Some(m) if m == 1.0 || m == 1.1 || m == 1.2 => {}
        _ => err("manifestVersion", "must be 1, 1.1 or 1.2"),
    }
    match get("id").and_then(Value::as_str) {
        Some(id) if !id.starts_with("umbrel-app-store") => {}
        _ => err("id", "a string not starting with umbrel-app-store"),
    }
    for (k, min, max) in [
        ("name", 1, 50),
        ("tagline", 1, 100),
        ("version", 1, usize::MAX),
        ("description", 1, 5000),
    ] {
        if let Some(why) = str_len(k, min, max) {
            err(k, &why);
        }
    }
    if let Some(t) = get("tagline").and_then(Value::as_str) {
        if t.ends_with('.') && t.split('.').count() == 2 {
            err("tagline", "should not end with a period");
        }
    }
    for k in ["developer", "submitter"] {
        let s = match get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        if !s.is_some_and(|s| (1..=50).contains(&s.chars().count())) {
            err(k, "1..=50 characters");
        }
    }
    const CATEGORIES: [&str; 9] = [
        "files",
        "bitcoin",
        "media",
        "networking",
        "social",
        "automation",
        "finance",
        "ai",
        "developer",
    ];
    if !get("category")
        .and_then(Value::as_str)
        .is_some_and(|c| CATEGORIES.contains(&c))
    {
        err("category", "not one of umbrel's categories");
    }
    if get("port")
        .and_then(Value::as_u64)
        .is_none_or(|p| p > 65535)
    {
        err("port", "an integer 0..=65535");
    }
    for k in ["website", "submission", "support"] {
        if !get(k).is_some_and(is_url) {
            err(k, "must be a URL");
        }
    }
    if let Some(r) = get("repo") {
        if !(is_url(r) || r.as_str() == Some("")) {
            err("repo", "a URL or empty");
        }
    }
    let strings = |k: &str, required: bool| match get(k) {
        None => !required,
        Some(Value::Sequence(s)) => s.iter().all(|x| x.is_string()),
        Some(_) => false,
    };
    for (k, required) in [
        ("gallery", true),
        ("dependencies", true),
        ("backupIgnore", false),
    ] {
        if !strings(k, required) {
            err(k, "a list of strings");
        }
    }
    if get("releaseNotes").is_some_and(|r| r.as_str().is_none_or(|s| s.chars().count() > 5000)) {
        err("releaseNotes", "a string of at most 5000 characters");
    }
    if let Some(p) = get("permissions") {
        let ok = p.as_sequence().is_some_and(|s| {
            s.iter()
                .all(|x| matches!(x.as_str(), Some("STORAGE_DOWNLOADS" | "GPU")))
        });
        if !ok {
            err("permissions", "STORAGE_DOWNLOADS or GPU");
        }
    }
    match get("path").and_then(Value::as_str) {
        Some(p) if p.is_empty() || (p.starts_with('/') && !p.contains(' ')) => {}
        _ => err("path", "a URL path"),
    }
    for k in ["defaultUsername", "defaultPassword", "defaultShell", "icon"] {
        if get(k).is_some_and(|x| !x.is_string()) {
            err(k, "must be a string");
        }
    }
    for k in [
        "disabled",
        "deterministicPassword",
        "optimizedForUmbrelHome",
        "torOnly",
    ] {
        if get(k).is_some_and(|x| !x.is_bool()) {
            err(k, "must be a boolean");
        }
    }
    if get("installSize").is_some_and(|x| x.as_u64().is_none()) {
        err("installSize", "a non-negative integer");
    }
    if get("widgets").is_some_and(|x| !x.is_sequence()) {
        err("widgets", "a list");
    }
    if let (Some(id), Some(deps)) = (
        get("id").and_then(Value::as_str),
        get("dependencies").and_then(Value::as_sequence),
    ) {
        if deps.iter().any(|d| d.as_str() == Some(id)) {
            err("dependencies", "can't include its own app id");
        }
    }
    if new_submission
        && get("releaseNotes")
            .and_then(Value::as_str)
            .is_some_and(|r| !r.is_empty())
    {
        out.push((
            "error",
            "filled_out_release_notes_on_first_submission",
            "releaseNotes must be empty for a new app".into(),
        ));
    }
    out
}

/// docker-compose.yml against the umbrel-cli compose rules. `files` are the app folder's paths
/// relative to it (`data/.gitkeep`, `data`, …).
fn lint_umbrel_compose(src: &str, files: &[String]) -> Vec<Finding> {
    let v: Value = match yaml_serde::from_str(src) {
        Ok(v) => v,
        Err(e) => return vec![("error", "invalid_yaml_syntax", e.to_string())],
    };
    let mut out = Vec::new();
    let Some(services) = v.get("services").and_then(Value::as_mapping) else {
        return vec![("error", "schema", "no services".into())];
    };
    for (name, svc) in services {
        let name = text(name);
        if let Some(image) = svc.get("image").and_then(Value::as_str) {
            // <name>:<version-tag>@<digest>, and not :latest.
            let well_formed = image.split_once('@').and_then(|(named, digest)| {
                let (repo, tag) = named.rsplit_once(':')?;
                (!repo.is_empty() && !tag.is_empty() && !digest.is_empty() && !tag.contains('/'))
                    .then_some(tag)
            });
            match well_formed {
                None => out.push((
                    "error",
                    "invalid_docker_image_name",
                    format!("{name}: {image}"),
                )),
                Some("latest") => out.push((
                    "warning",
                    "invalid_docker_image_name",
                    format!("{name}: latest"),
                )),
                Some(_) => {}
            }
        }
        for key in ["environment", "labels", "extra_hosts"] {
            if let Some(map) = svc.get(key).and_then(Value::as_mapping) {
                for (k, val) in map {
                    if val.is_bool() {
                        out.push((
                            "error",
                            "invalid_yaml_boolean_value",
                            format!("{name}.{key}.{}", text(k)),
                        ));
                    }
                }
            }
        }
        for vol in svc
            .get("volumes")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let (source, spec) = match vol {
                Value::String(s) => (s.split(':').next().unwrap_or("").to_string(), s.clone()),
                other => (
                    other.get("source").map(text).unwrap_or_default(),
                    format!("{other:?}"),
                ),
            };
            let sub = source
                .strip_prefix("${APP_DATA_DIR}")
                .or_else(|| source.strip_prefix("$APP_DATA_DIR"));
            if let Some(sub) = sub {
                let sub = sub.trim_start_matches('/');
                if sub.is_empty() {
                    out.push(("warning", "invalid_app_data_dir_volume_mount", spec));
                } else if !files.iter().any(|f| f == sub) {
                    out.push(("info", "missing_file_or_directory", spec));
                }
            }
        }
        if svc
            .get("ports")
            .is_some_and(|p| p.as_sequence().is_some_and(|s| !s.is_empty()))
        {
            out.push(("info", "external_port_mapping", name.clone()));
        }
        if name != "app_proxy" {
            let user = svc.get("user").map(text);
            let uid_env = svc
                .get("environment")
                .and_then(Value::as_mapping)
                .is_some_and(|m| {
                    m.iter().any(|(k, v)| {
                        matches!(text(k).as_str(), "UID" | "PUID") && text(v) == "1000"
                    })
                });
            match user.as_deref() {
                Some("root") => {
                    out.push(("info", "invalid_container_user", format!("{name}: root")))
                }
                None if !uid_env => out.push((
                    "info",
                    "invalid_container_user",
                    format!("{name}: default user"),
                )),
                _ => {}
            }
        }
        if svc.get("network_mode").and_then(Value::as_str) == Some("host") {
            out.push(("info", "container_network_mode_host", name.clone()));
        }
    }
    out
}

/// Paths (files and directories) under `dir`, relative to it.
fn tree(dir: &Path) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let is_dir = p.is_dir();
            if is_dir {
                stack.push(p);
            }
            out.push((rel, is_dir));
        }
    }
    out
}

/// `empty_app_data_directory`: every directory holds something (a .gitkeep at least).
fn lint_umbrel_dirs(entries: &[(String, bool)]) -> Vec<Finding> {
    entries
        .iter()
        .filter(|(p, is_dir)| {
            *is_dir
                && !entries
                    .iter()
                    .any(|(q, _)| q.len() > p.len() && q.starts_with(&format!("{p}/")))
        })
        .map(|(p, _)| ("error", "empty_app_data_directory", p.clone()))
        .collect()
}

#[test]
fn umbrel_app_passes_the_umbrel_apps_linter_rules() {
    let app_src = read("umbrel/igloo/umbrel-app.yml");
    let compose_src = read("umbrel/igloo/docker-compose.yml");
    let entries = tree(&repo("umbrel/igloo"));
    let files: Vec<String> = entries.iter().map(|(p, _)| p.clone()).collect();
    // Nothing at all, not even an info: a first submission, with the folder as committed.
    assert_eq!(lint_umbrel_app_yml(&app_src, true), vec![]);
    assert_eq!(lint_umbrel_compose(&compose_src, &files), vec![]);
    assert_eq!(lint_umbrel_dirs(&entries), vec![]);
    // The committed image is the release placeholder, in the linted form, named for this
    // version (umbrel/pin-image.sh writes the real digest; umbrel/README.md).
    let image = text(at(
        &yaml("umbrel/igloo/docker-compose.yml"),
        &["services", "web", "image"],
    ));
    let digest = image.split_once("@sha256:").map(|(_, d)| d).unwrap_or("");
    assert!(
        image.starts_with(&format!("ghcr.io/frostr-org/igloo:{VERSION}@sha256:"))
            && digest.len() == 64
            && digest.chars().all(|c| c.is_ascii_hexdigit()),
        "{image}"
    );
    assert!(read("umbrel/README.md").contains("invalid_docker_image_name"));
    assert!(read("umbrel/pin-image.sh").contains("imagetools inspect"));

    // Each rule says no to what it is for.
    let rules = |src: &str, new: bool| -> Vec<&'static str> {
        lint_umbrel_app_yml(src, new)
            .into_iter()
            .map(|(_, id, _)| id)
            .collect()
    };
    let with = |from: &str, to: &str| {
        assert!(app_src.contains(from), "{from}");
        app_src.replacen(from, to, 1)
    };
    assert_eq!(
        rules(
            &with("releaseNotes: \"\"", "releaseNotes: First release"),
            true
        ),
        ["filled_out_release_notes_on_first_submission"]
    );
    assert_eq!(
        rules(
            &with("releaseNotes: \"\"", "releaseNotes: First release"),
            false
        ),
        Vec::<&str>::new()
    );
    for (from, to) in [
        ("category: social", "category: nostr"),
        ("port: 8009", "port: 70000"),
        ("manifestVersion: 1", "manifestVersion: 2"),
        (
            "tagline: An always-on FROSTR signing node for Nostr",
            "tagline: An always-on signer.",
        ),
        ("website: https://frostr.org", "website: frostr.org"),
        ("dependencies: []", "dependencies: [igloo]"),
        (
            "deterministicPassword: true",
            "deterministicPassword: \"yes\"",
        ),
        ("id: igloo", "id: umbrel-app-store-igloo"),
        ("gallery: []\n", ""),
    ] {
        assert_eq!(rules(&with(from, to), true), ["schema"], "{to:?} passed");
    }
    assert_eq!(rules("id: [", true), ["invalid_yaml_syntax"]);

    let compose_rules = |src: &str| -> Vec<(&'static str, &'static str)> {
        lint_umbrel_compose(src, &files)
            .into_iter()
            .map(|(s, id, _)| (s, id))
            .collect()
    };
    let cwith = |from: &str, to: &str| {
        assert!(compose_src.contains(from), "{from}");
        compose_src.replacen(from, to, 1)
    };
    let img = format!("image: {image}");
    assert_eq!(
        compose_rules(&cwith(&img, "image: ghcr.io/frostr-org/igloo:0.1.0")),
        [("error", "invalid_docker_image_name")]
    );
    assert_eq!(
        compose_rules(&cwith(
            &img,
            "image: ghcr.io/frostr-org/igloo:latest@sha256:ab"
        )),
        [("warning", "invalid_docker_image_name")]
    );
    assert_eq!(
        compose_rules(&cwith("AUTH_ENABLED: \"true\"", "AUTH_ENABLED: true")),
        [("error", "invalid_yaml_boolean_value")]
    );
    assert_eq!(
        compose_rules(&cwith(
            "${APP_DATA_DIR}/data:/data",
            "${APP_DATA_DIR}:/data"
        )),
        [("warning", "invalid_app_data_dir_volume_mount")]
    );
    assert_eq!(
        compose_rules(&cwith(
            "${APP_DATA_DIR}/data:/data",
            "${APP_DATA_DIR}/store:/data"
        )),
        [("info", "missing_file_or_directory")]
    );
    assert_eq!(
        compose_rules(&cwith("user: \"1000:1000\"", "user: root")),
        [("info", "invalid_container_user")]
    );
    assert_eq!(
        compose_rules(&cwith("    user: \"1000:1000\"\n", "")),
        [("info", "invalid_container_user")]
    );
    assert_eq!(
        compose_rules(&cwith(
            "restart: on-failure",
            "restart: on-failure\n    network_mode: host"
        )),
        [("info", "container_network_mode_host")]
    );
    assert_eq!(
        compose_rules(&cwith(
            "restart: on-failure",
            "restart: on-failure\n    ports:\n      - 8002:8002"
        )),
        [("info", "external_port_mapping")]
    );
    let mut empty = entries.clone();
    empty.push(("config".into(), true));
    assert_eq!(
        lint_umbrel_dirs(&empty),
        [("error", "empty_app_data_directory", "config".to_string())]
    );
}

/// umbrelOS's app_proxy whitelist patterns: comma separated, `*` matching any run of characters.
fn glob_match(pattern: &str, path: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == path,
        Some((head, rest)) => {
            path.starts_with(head)
                && (head.len()..=path.len())
                    .any(|i| path.is_char_boundary(i) && glob_match(rest, &path[i..]))
        }
    }
}

/// Whitelisted paths a whitelist must never open: creating the admin, logging in, the owner's
/// settings, keysets, recovery, and the UI itself.
fn whitelist_leaks(whitelist: &str) -> Vec<String> {
    const BEHIND_LOGIN: [&str; 14] = [
        "/",
        "/index.html",
        "/api/onboarding/setup",
        "/api/onboarding/status",
        "/api/auth/login",
        "/api/admin/users",
        "/api/admin/api-keys",
        "/api/admin/passphrase",
        "/api/env",
        "/api/env/admin-secret",
        "/api/keyset/import",
        "/api/recover",
        "/api/user/credentials",
        "/api/docs/openapi.json",
    ];
    BEHIND_LOGIN
        .iter()
        .filter(|p| whitelist.split(',').any(|g| glob_match(g.trim(), p)))
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn umbrel_whitelist_keeps_onboarding_and_admin_behind_the_login() {
    let compose = yaml("umbrel/igloo/docker-compose.yml");
    let whitelist = text(at(
        &compose,
        &[
            "services",
            "app_proxy",
            "environment",
            "PROXY_AUTH_WHITELIST",
        ],
    ));
    assert_eq!(
        whitelist_leaks(&whitelist),
        Vec::<String>::new(),
        "{whitelist}"
    );
    // It does let API clients with their own keys reach the signer.
    for path in [
        "/api/sign",
        "/api/peers",
        "/api/events",
        "/api/nip44/encrypt",
        "/api/status",
    ] {
        assert!(
            whitelist.split(',').any(|g| glob_match(g, path)),
            "{path} not whitelisted"
        );
    }
    // The old whitelist opened onboarding to the LAN.
    assert!(whitelist_leaks("/api/*").contains(&"/api/onboarding/setup".to_string()));
    assert!(glob_match("/api/*/x", "/api/a/b/x") && !glob_match("/api/sign", "/api/sign/pending"));
}

/// `docker-compose config -q` as umbrelOS would see the file: its variables set, and the
/// app_proxy image it adds itself. None when docker-compose is not installed.
fn compose_config(compose: &Path) -> Option<(bool, String)> {
    let dir = tempfile::tempdir().unwrap();
    let overlay = dir.path().join("umbrel-os.yml");
    std::fs::write(
        &overlay,
        "version: \"3.7\"\nservices:\n  app_proxy:\n    image: getumbrel/app-proxy:1.0.0\n",
    )
    .unwrap();
    let out = Command::new("docker-compose")
        .arg("-f")
        .arg(compose)
        .arg("-f")
        .arg(&overlay)
        .args(["config", "-q"])
        .env("APP_DATA_DIR", "/home/umbrel/umbrel/app-data/igloo")
        .env("APP_PASSWORD", "deterministic-app-password")
        .current_dir(dir.path())
        .output()
        .ok()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success() && said.trim().is_empty(), said))
}

#[test]
fn umbrel_compose_config_is_clean() {
    let Some((ok, said)) = compose_config(&repo("umbrel/igloo/docker-compose.yml")) else {
        eprintln!("SKIPPED: docker-compose is not installed (scripts/test installs it)");
        return;
    };
    assert!(ok, "docker-compose config -q: {said}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("docker-compose.yml");
    std::fs::write(
        &bad,
        read("umbrel/igloo/docker-compose.yml").replace(
            "restart: on-failure",
            "restart: on-failure\n    retsart: always",
        ),
    )
    .unwrap();
    let (ok, said) = compose_config(&bad).unwrap();
    assert!(!ok && said.contains("retsart"), "{said}");
}

// ---- systemd-analyze ----

const UNITS: [&str; 2] = ["igloo.service", "igloo-firstboot.service"];

/// A root with the units where the Buildroot package installs them, their executables, and
/// the host's own units (sysinit.target, …) so `verify` resolves dependencies.
fn unit_root(units: &[(&str, String)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let sys = root.path().join("usr/lib/systemd/system");
    std::fs::create_dir_all(&sys).unwrap();
    for host in ["/usr/lib/systemd/system", "/lib/systemd/system"] {
        let Ok(dir) = std::fs::read_dir(host) else {
            continue;
        };
        for e in dir.flatten() {
            let p = e.path();
            if p.extension()
                .is_some_and(|x| x == "target" || x == "slice" || x == "socket")
            {
                let _ = std::fs::copy(&p, sys.join(e.file_name()));
            }
        }
    }
    for (name, body) in units {
        std::fs::write(sys.join(name), body).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    for (exe, from) in [
        ("usr/bin/igloo", PathBuf::from(env!("CARGO_BIN_EXE_igloo"))),
        (
            "usr/libexec/igloo-firstboot",
            repo("buildroot/package/igloo/igloo-firstboot"),
        ),
    ] {
        let to = root.path().join(exe);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    root
}

fn have_systemd_analyze() -> bool {
    Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `systemd-analyze verify` of `units` inside a root: (exit ok, stderr).
fn verify_units(units: &[(&str, String)]) -> (bool, String) {
    let root = unit_root(units);
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.path().display()))
        .args(units.iter().map(|(n, _)| *n))
        .output()
        .expect("run systemd-analyze");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The overall exposure `systemd-analyze security --offline=yes` gives a unit file.
fn exposure(name: &str, body: &str) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, body).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let said = String::from_utf8_lossy(&out.stdout);
    said.lines()
        .find_map(|l| l.split_once(&format!("Overall exposure level for {name}: ")))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure in: {said}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

#[test]
fn systemd_units_verify_clean_and_expose_at_most_2() {
    if !have_systemd_analyze() {
        eprintln!(
            "SKIPPED: systemd-analyze is not installed (scripts/test installs the systemd package)"
        );
        return;
    }
    let units: Vec<(&str, String)> = UNITS
        .iter()
        .map(|u| (*u, read(&format!("buildroot/package/igloo/{u}"))))
        .collect();
    let (ok, stderr) = verify_units(&units);
    assert!(ok && stderr.is_empty(), "systemd-analyze verify: {stderr}");
    for (name, body) in &units {
        let score = exposure(name, body);
        eprintln!("{name}: exposure {score}");
        assert!(score <= 2.0, "{name}: exposure {score} > 2.0");
    }
    // Both checks can fail: a misspelt directive, a missing executable, a bare unit.
    let typo = units[0]
        .1
        .replace("ProtectSystem=strict", "ProtectSytem=strict");
    let (_, stderr) = verify_units(&[("igloo.service", typo)]);
    assert!(stderr.contains("ProtectSytem"), "{stderr}");
    let missing = units[0]
        .1
        .replace("ExecStart=/usr/bin/igloo", "ExecStart=/usr/bin/igloo-gone");
    let (ok, stderr) = verify_units(&[("igloo.service", missing)]);
    assert!(!ok && stderr.contains("igloo-gone"), "{stderr}");
    let bare = "[Service]\nType=oneshot\nExecStart=/usr/libexec/igloo-firstboot\n";
    assert!(exposure("bare.service", bare) > 9.0);
}

/// Runs igloo under the unit's sandbox with `systemd-run` and asks /api/status. Needs a running
/// systemd (PID 1) and root; skipped with a message elsewhere (containers, CI without systemd).
#[test]
fn igloo_serves_under_the_units_sandbox() {
    let pid1 = std::fs::read_to_string("/proc/1/comm").unwrap_or_default();
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if pid1.trim() != "systemd" || uid.as_deref().ok() != Some("0") {
        eprintln!(
            "SKIPPED: the sandbox run needs systemd as PID 1 (here {:?}) and root",
            pid1.trim()
        );
        return;
    }
    let entries = unit_entries(UNIT);
    const SANDBOX: [&str; 29] = [
        "NoNewPrivileges",
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "PrivateMounts",
        "PrivateUsers",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "ProtectClock",
        "ProtectHostname",
        "ProtectProc",
        "ProcSubset",
        "RemoveIPC",
        "RestrictAddressFamilies",
        "RestrictNamespaces",
        "RestrictRealtime",
        "RestrictSUIDSGID",
        "LockPersonality",
        "MemoryDenyWriteExecute",
        "SystemCallArchitectures",
        "SystemCallFilter",
        "SystemCallErrorNumber",
        "CapabilityBoundingSet",
        "AmbientCapabilities",
        "UMask",
        "StateDirectoryMode",
    ];
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let unit = format!("igloo-sandbox-test-{port}");
    let mut cmd = Command::new("systemd-run");
    cmd.arg(format!("--unit={unit}")).args([
        "--collect",
        "--property=DynamicUser=yes",
        "--property=StateDirectory=igloo-sandbox-test",
    ]);
    for (k, v) in entries
        .iter()
        .filter(|(k, _)| SANDBOX.contains(&k.as_str()))
    {
        cmd.arg(format!("--property={k}={v}"));
    }
    cmd.arg(env!("CARGO_BIN_EXE_igloo")).args([
        "serve",
        "--host-port",
        &port.to_string(),
        "--db-path",
        "/var/lib/igloo-sandbox-test",
    ]);
    let started = cmd.output().expect("systemd-run");
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let mut ok = false;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(200));
        let (good, _) = run_healthcheck(&Vec::new(), port);
        if good {
            ok = true;
            break;
        }
    }
    let _ = Command::new("systemctl").args(["stop", &unit]).status();
    assert!(ok, "igloo under the sandbox never answered /api/status");
}

// ---- Buildroot ----

const DEFCONFIGS: [&str; 3] = [
    "igloo_raspberrypi4_64_defconfig",
    "igloo_raspberrypi5_defconfig",
    "igloo_raspberrypizero2w_64_defconfig",
];

/// What every image needs: 64-bit, systemd, igloo, every download hash-checked, a read-only
/// root with /var rebuilt from the image, and the data partition set up by the board scripts.
fn defconfig_problems(src: &str) -> Vec<String> {
    let lines: Vec<&str> = src.lines().map(str::trim).collect();
    let mut out = Vec::new();
    for needed in [
        "BR2_aarch64=y",
        "BR2_INIT_SYSTEMD=y",
        "BR2_PACKAGE_IGLOO=y",
        "BR2_PACKAGE_HOST_RUSTC=y",
        "BR2_DOWNLOAD_FORCE_CHECK_HASHES=y",
        "# BR2_TARGET_GENERIC_REMOUNT_ROOTFS_RW is not set",
        "BR2_INIT_SYSTEMD_VAR_FACTORY=y",
        "BR2_PACKAGE_RPI_FIRMWARE=y",
        "BR2_ROOTFS_POST_BUILD_SCRIPT=\"$(BR2_EXTERNAL_IGLOO_PATH)/board/igloo/post-build.sh\"",
        "BR2_ROOTFS_POST_IMAGE_SCRIPT=\"$(BR2_EXTERNAL_IGLOO_PATH)/board/igloo/post-image.sh\"",
    ] {
        if !lines.contains(&needed) {
            out.push(format!("lacks {needed}"));
        }
    }
    // Each symbol once (a later line silently wins in Kconfig).
    let mut seen = std::collections::BTreeSet::new();
    for l in &lines {
        if let Some((sym, _)) = l.split_once('=').filter(|_| l.starts_with("BR2_")) {
            if !seen.insert(sym.to_string()) {
                out.push(format!("sets {sym} twice"));
            }
        }
    }
    // The kernel command line mounts the root read-only.
    if let Some(cmdline) = lines.iter().find_map(|l| {
        l.strip_prefix("BR2_PACKAGE_RPI_FIRMWARE_CMDLINE_FILE=\"$(BR2_EXTERNAL_IGLOO_PATH)/")
    }) {
        let file = repo("buildroot").join(cmdline.trim_end_matches('"'));
        let args = std::fs::read_to_string(&file).unwrap_or_default();
        if !args.split_whitespace().any(|a| a == "ro") {
            out.push(format!(
                "{} does not mount the root read-only",
                file.display()
            ));
        }
    } else {
        out.push("names no cmdline.txt".into());
    }
    out
}

#[test]
fn buildroot_tree_builds_every_pi_with_checked_hashes() {
    for d in DEFCONFIGS {
        let problems = defconfig_problems(&read(&format!("buildroot/configs/{d}")));
        assert!(problems.is_empty(), "{d}: {problems:?}");
    }
    // The Zero 2 W has no Ethernet: Wi-Fi from the boot partition.
    let zero = read("buildroot/configs/igloo_raspberrypizero2w_64_defconfig");
    assert!(zero.contains("BR2_PACKAGE_WPA_SUPPLICANT=y") && zero.contains("rootfs-overlay-wifi"));
    let wifi = repo(
        "buildroot/board/igloo/rootfs-overlay-wifi/etc/wpa_supplicant/wpa_supplicant-wlan0.conf",
    );
    assert_eq!(
        std::fs::read_link(wifi).unwrap(),
        Path::new("/boot/wpa_supplicant.conf")
    );
    // The rule says no.
    let pi4 = read("buildroot/configs/igloo_raspberrypi4_64_defconfig");
    let bad =
        pi4.replace("# BR2_TARGET_GENERIC_REMOUNT_ROOTFS_RW is not set\n", "") + "BR2_aarch64=y\n";
    assert_eq!(
        defconfig_problems(&bad),
        [
            "lacks # BR2_TARGET_GENERIC_REMOUNT_ROOTFS_RW is not set",
            "sets BR2_aarch64 twice"
        ]
    );

    // igloo.hash: the vendored tarball Buildroot's cargo infrastructure makes for this version,
    // and the license file's real hash.
    let hash = read("buildroot/package/igloo/igloo.hash");
    let entries: Vec<Vec<&str>> = hash
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    for e in &entries {
        assert!(
            e.len() == 3 && e[0] == "sha256" && e[1].len() == 64,
            "{e:?}"
        );
    }
    let tarball = format!("igloo-{VERSION}-cargo6.tar.gz");
    assert!(
        entries.iter().any(|e| e[2] == tarball),
        "igloo.hash names no {tarball}"
    );
    use sha2::Digest;
    let license = hex::encode(sha2::Sha256::digest(read("LICENSE").as_bytes()));
    assert!(
        entries.iter().any(|e| e[2] == "LICENSE" && e[1] == license),
        "LICENSE hash"
    );
    assert!(read("buildroot/update-hash.sh").contains("igloo-source"));

    // The first-boot unit runs as igloo, in the data directory systemd hands it.
    let fb = unit_entries("buildroot/package/igloo/igloo-firstboot.service");
    assert_eq!(unit_value(&fb, "User"), "igloo");
    assert_eq!(
        unit_value(&fb, "StateDirectory"),
        unit_value(&unit_entries(UNIT), "StateDirectory")
    );
    assert!(!read("buildroot/package/igloo/igloo-firstboot").contains("chown"));
}

// ---- footprint ----

#[tokio::test]
async fn swagger_ui_is_embedded_gzipped_and_every_client_can_read_it() {
    // Embedded gzipped (Cargo.toml: utoipa-swagger-ui `gzip`), sent as is to clients that
    // accept gzip, inflated for the others (src/http/docs.rs).
    let srv = common::TestServer::start(&[]);
    let c = reqwest::Client::new();
    let get = |accept: Option<&'static str>| {
        let mut r = c.get(srv.url("/api/docs/swagger-ui-bundle.js"));
        if let Some(a) = accept {
            r = r.header("accept-encoding", a);
        }
        r.send()
    };
    let gz = get(Some("gzip, deflate")).await.unwrap();
    assert_eq!(gz.status(), 200);
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["vary"], "accept-encoding");
    let gz_len = gz.bytes().await.unwrap().len();
    for accept in [None, Some("identity"), Some("gzip;q=0, br")] {
        let plain = get(accept).await.unwrap();
        assert_eq!(plain.status(), 200, "{accept:?}");
        assert!(
            plain.headers().get("content-encoding").is_none(),
            "{accept:?}"
        );
        let body = plain.bytes().await.unwrap();
        assert!(
            body.len() > 3 * gz_len,
            "{accept:?}: {} vs {gz_len}",
            body.len()
        );
        assert!(
            std::str::from_utf8(&body)
                .unwrap()
                .contains("SwaggerUIBundle")
        );
    }
    // The page itself, as a browser without gzip would read it.
    let html = c.get(srv.url("/api/docs/")).send().await.unwrap();
    assert!(html.text().await.unwrap().contains("swagger-ui"));
}
