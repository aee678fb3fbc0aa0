//! The appliance packaging (Dockerfile, umbrel/, start9/, buildroot/) against the binary it
//! ships: versions equal Cargo.toml's, every environment variable a manifest sets is one igloo
//! accepts with a value it accepts, ports and health checks match, the systemd watchdog leaves
//! room for igloo's own node restarts, and every file a manifest names exists. Hermetic: reads
//! the repository, runs the built binary, serves on 127.0.0.1 port 0.

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

    let start9 = yaml("start9/manifest.yaml");
    assert_eq!(text(at(&start9, &["version"])), VERSION, "start9 manifest");

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
        ("start9/Dockerfile", dockerfile_env("start9/Dockerfile")),
        ("igloo.service", unit_env()),
        (
            "igloo.env.example",
            env_file("buildroot/board/raspberrypi4-64/rootfs-overlay/etc/igloo.env.example"),
        ),
    ];
    for (name, env) in &sets {
        assert!(!env.is_empty(), "{name}: no variables found");
        if let Err(e) = config_from_env(env) {
            panic!("{name}: {e}");
        }
    }
    // The Start9 entrypoint exports the admin secret it generates.
    let entry = read("start9/docker_entrypoint.sh");
    let exported: Vec<&str> = entry
        .lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .flat_map(str::split_whitespace)
        .collect();
    assert!(exported.contains(&"ADMIN_SECRET"), "{exported:?}");
    for name in exported {
        config_from_env(&vec![(name.to_string(), "a-generated-secret".into())])
            .unwrap_or_else(|e| panic!("start9 entrypoint: {e}"));
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

    // Umbrel and Start9 terminate TLS in front of igloo and forward plain HTTP.
    let umbrel = config_from_env(&umbrel_env()).unwrap();
    assert_eq!(umbrel.bind.ip(), any);
    assert_eq!(umbrel.tls, TlsMode::Off);
    assert!(umbrel.auth.enabled && umbrel.auth.skip_admin_secret_validation);
    assert!(umbrel.auth.admin_secret.is_some());
    let mut start9_env = dockerfile_env("Dockerfile");
    start9_env.extend(dockerfile_env("start9/Dockerfile"));
    let start9 = config_from_env(&start9_env).unwrap();
    assert_eq!(start9.tls, TlsMode::Off);
    assert!(start9.auth.enabled && !start9.auth.skip_admin_secret_validation);

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
    let manifest = yaml("start9/manifest.yaml");
    assert_eq!(
        PathBuf::from(text(at(&manifest, &["main", "mounts", "main"]))),
        start9.db_path
    );

    // Both platforms wait longer than igloo's own drain before killing it.
    let grace = timespan(&text(at(
        &compose,
        &["services", "web", "stop_grace_period"],
    )));
    assert!(
        grace > umbrel.shutdown_timeout,
        "umbrel stop_grace_period {grace:?}"
    );
    let sigterm = timespan(&text(at(&manifest, &["main", "sigterm-timeout"])));
    assert!(
        sigterm > start9.shutdown_timeout,
        "start9 sigterm-timeout {sigterm:?}"
    );

    // Buildroot: the unit's data path is the StateDirectory and the data partition's mount.
    let pi = config_from_env(&unit_env()).unwrap();
    let entries = unit_entries(UNIT);
    let state = Path::new("/var/lib").join(unit_value(&entries, "StateDirectory"));
    assert_eq!(pi.db_path, state);
    assert_eq!(
        unit_value(&entries, "WorkingDirectory"),
        state.to_str().unwrap()
    );
    let post_build = read("buildroot/board/raspberrypi4-64/post-build.sh");
    let data_mount = post_build
        .lines()
        .find(|l| l.contains("LABEL=igloo-data") && l.contains('\t'))
        .expect("fstab line for the data partition");
    assert_eq!(data_mount.split('\t').nth(1), state.to_str());
    let genimage = read("buildroot/board/raspberrypi4-64/genimage.cfg");
    assert!(genimage.contains("label = \"igloo-data\""));
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

    let umbrel_app = yaml("umbrel/igloo/umbrel-app.yml");
    let compose = yaml("umbrel/igloo/docker-compose.yml");
    let umbrel = config_from_env(&umbrel_env()).unwrap();
    assert_eq!(text(at(&umbrel_app, &["port"])), port.to_string());
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

    let manifest = yaml("start9/manifest.yaml");
    let lan = at(&manifest, &["interfaces", "main", "lan-config"])
        .as_mapping()
        .expect("lan-config mapping");
    for (_, v) in lan {
        assert_eq!(text(at(v, &["internal"])), port.to_string());
    }
    let tor = at(
        &manifest,
        &["interfaces", "main", "tor-config", "port-mapping"],
    )
    .as_mapping()
    .expect("port-mapping");
    for (_, v) in tor {
        assert_eq!(text(v), port.to_string());
    }

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

    let manifest = yaml("start9/manifest.yaml");
    let checks = at(&manifest, &["health-checks"])
        .as_mapping()
        .expect("health-checks");
    assert!(!checks.is_empty());
    for (_, check) in checks {
        assert_eq!(text(at(check, &["entrypoint"])), "igloo");
        let args: Vec<String> = at(check, &["args"])
            .as_sequence()
            .expect("args")
            .iter()
            .map(text)
            .collect();
        assert_eq!(args, ["healthcheck"]);
        assert_eq!(at(check, &["inject"]), &Value::Bool(true));
    }

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
    let mut start9_env = dockerfile_env("Dockerfile");
    start9_env.extend(dockerfile_env("start9/Dockerfile"));
    for (name, env) in [
        ("Dockerfile", dockerfile_env("Dockerfile")),
        ("umbrel", umbrel_env()),
        ("start9", start9_env),
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
    // The Start9 image stays on top of it and drops to UID 1000 before running igloo.
    let entry = read("start9/docker_entrypoint.sh");
    assert!(entry.contains("setpriv --reuid=1000 --regid=1000"));
    assert!(entry.trim_end().ends_with("/usr/local/bin/igloo serve"));
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

    let manifest = yaml("start9/manifest.yaml");
    for key in [
        "id",
        "title",
        "license",
        "description",
        "main",
        "volumes",
        "backup",
    ] {
        at(&manifest, &[key]);
    }
    for asset in ["icon", "instructions"] {
        let f = text(at(&manifest, &["assets", asset]));
        assert!(repo("start9").join(&f).exists(), "start9 asset {f}");
    }
    assert_eq!(
        text(at(&manifest, &["main", "entrypoint"])),
        "docker_entrypoint.sh"
    );
    assert!(read("start9/Dockerfile").contains("docker_entrypoint.sh"));
    assert_eq!(text(at(&manifest, &["volumes", "main", "type"])), "data");
    let data = text(at(&manifest, &["main", "mounts", "main"]));
    for step in ["create", "restore"] {
        let b = at(&manifest, &["backup", step]);
        assert_eq!(text(at(b, &["mounts", "main"])), data, "backup {step}");
        let args: Vec<String> = at(b, &["args"])
            .as_sequence()
            .unwrap()
            .iter()
            .map(text)
            .collect();
        assert!(args.contains(&data), "backup {step} covers {data}");
    }
    assert!(read("start9/Makefile").contains("pack"));

    // Buildroot: the external tree's name, sources and every referenced file.
    let desc = read("buildroot/external.desc");
    assert!(desc.lines().any(|l| l.trim() == "name: IGLOO"));
    let br_files = [
        "buildroot/Config.in",
        "buildroot/external.mk",
        "buildroot/configs/igloo_raspberrypi4_64_defconfig",
        "buildroot/package/igloo/igloo.mk",
    ];
    let mut referenced = BTreeMap::new();
    for f in br_files {
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
    assert!(referenced.len() >= 5, "{referenced:?}");
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
    let defconfig = read("buildroot/configs/igloo_raspberrypi4_64_defconfig");
    let pkg_config = read("buildroot/package/igloo/Config.in");
    assert!(pkg_config.contains("config BR2_PACKAGE_IGLOO\n"));
    for needed in ["BR2_PACKAGE_IGLOO=y", "BR2_INIT_SYSTEMD=y"] {
        assert!(
            defconfig.lines().any(|l| l == needed),
            "defconfig lacks {needed}"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    for script in [
        "buildroot/board/raspberrypi4-64/post-build.sh",
        "buildroot/board/raspberrypi4-64/post-image.sh",
        "buildroot/package/igloo/igloo-firstboot",
        "start9/docker_entrypoint.sh",
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
