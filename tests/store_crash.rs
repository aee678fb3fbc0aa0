//! Crash safety: a child process commits in a loop and is SIGKILLed at random moments, 50 times.
//! Every reopen must succeed and every commit the child acknowledged must be present.
//!
//! The child is this same test binary, re-executed with `CHILD_ENV` set and a filter selecting
//! this test, so no extra build target is needed.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use igloo::store::Store;
use rand::Rng;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

const CHILD_ENV: &str = "IGLOO_STORE_CRASH_CHILD_DB";
const TEST_NAME: &str = "sigkill_during_commits_loses_no_acknowledged_commit";
const ROUNDS: usize = 50;
/// Commit n → payload; several pages per commit so kills also land inside page writes.
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("crash_log");
const PAYLOAD_LEN: usize = 6000;
const ACK: &str = "COMMITTED ";
const READY: &str = "STORE OPEN";

fn payload(n: u64) -> Vec<u8> {
    n.to_le_bytes()
        .iter()
        .copied()
        .cycle()
        .take(PAYLOAD_LEN)
        .collect()
}

fn last_committed(store: &Store) -> u64 {
    let txn = store.db().unwrap().begin_read().unwrap();
    match txn.open_table(LOG) {
        Ok(t) => t.last().unwrap().map(|(k, _)| k.value()).unwrap_or(0),
        Err(redb::TableError::TableDoesNotExist(_)) => 0,
        Err(e) => panic!("{e}"),
    }
}

/// Child mode: commit n, n+1, … and acknowledge each on stdout only after `commit()` returned.
fn run_child(db: &Path) {
    let store = Store::open(db).expect("child open");
    let mut n = last_committed(&store);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{READY}").unwrap();
    out.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20); // never outlive a dead parent long
    while Instant::now() < deadline {
        n += 1;
        let txn = store.db().unwrap().begin_write().unwrap();
        txn.open_table(LOG)
            .unwrap()
            .insert(n, payload(n).as_slice())
            .unwrap();
        txn.commit().unwrap();
        store.put_setting("counter", &n.to_le_bytes()).unwrap();
        writeln!(out, "{ACK}{n}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_during_commits_loses_no_acknowledged_commit() {
    if let Some(db) = std::env::var_os(CHILD_ENV) {
        run_child(Path::new(&db));
        return;
    }

    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("data");
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::thread_rng();
    let started = Instant::now();
    let mut reopened = 0usize;
    let mut verified = 0usize;
    let mut rounds_with_commits = 0usize;

    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &db)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<Option<u64>>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // libtest may print "test <name> ... " on the same line as the first marker.
                let event = if line.ends_with(READY) {
                    None
                } else if let Some(n) = line.split(ACK).nth(1).and_then(|n| n.parse().ok()) {
                    Some(n)
                } else {
                    continue;
                };
                if tx.send(event).is_err() {
                    break;
                }
            }
        });

        // Most rounds time the kill from the moment the store is open, so it lands among
        // commits; every fourth from spawn, so it also lands in start-up and crash recovery.
        if round % 4 != 3 {
            let ready = rx.recv_timeout(Duration::from_secs(30));
            assert_eq!(
                ready,
                Ok(None),
                "round {round}: child never opened the store"
            );
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(5..=200)));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        reader.join().unwrap();
        let acked: Vec<u64> = rx.try_iter().flatten().collect();

        let store = Store::open(&db)
            .unwrap_or_else(|e| panic!("round {round}: reopen after SIGKILL failed: {e}"));
        reopened += 1;
        let txn = store.db().unwrap().begin_read().unwrap();
        if let Some(&last_acked) = acked.last() {
            rounds_with_commits += 1;
            let log = txn.open_table(LOG).unwrap();
            for &n in &acked {
                let v = log
                    .get(n)
                    .unwrap()
                    .unwrap_or_else(|| panic!("round {round}: acknowledged commit {n} lost"));
                assert_eq!(
                    v.value(),
                    payload(n).as_slice(),
                    "round {round}: commit {n}"
                );
            }
            // Commits are numbered without gaps, so the log is exactly 1..=last.
            let last = log.last().unwrap().unwrap().0.value();
            assert!(last >= last_acked, "round {round}: {last} < {last_acked}");
            assert_eq!(log.len().unwrap(), last, "round {round}: gap in the log");
            // The counter is written after the log entry, and acknowledged after both.
            let counter = store.get_setting("counter").unwrap().unwrap();
            let counter = u64::from_le_bytes(counter.as_slice().try_into().unwrap());
            assert!(counter >= last_acked && counter <= last, "round {round}");
            verified += acked.len();
        }
        drop(txn);
        store.close().unwrap();
    }

    println!(
        "store crash test: {reopened}/{ROUNDS} reopen OK, {verified} acknowledged commits verified, \
         {rounds_with_commits} rounds killed after at least one commit, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(reopened, ROUNDS);
    assert!(
        rounds_with_commits >= ROUNDS / 4,
        "too few rounds reached a commit ({rounds_with_commits}); the test proves little"
    );
}
