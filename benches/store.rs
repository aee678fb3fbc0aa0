//! Store costs: a durable setting write (one fsync'd commit) and a setting read.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use igloo::store::Store;

fn store_benches(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path()).expect("open store");
    store
        .put_setting("group_name", b"home signer")
        .expect("seed");

    c.bench_function("store/get_setting", |b| {
        b.iter(|| black_box(store.get_setting(black_box("group_name")).expect("get")))
    });

    let mut n = 0u64;
    c.bench_function("store/put_setting_durable", |b| {
        b.iter(|| {
            n += 1;
            store.put_setting("counter", &n.to_le_bytes()).expect("put");
        })
    });

    c.bench_function("store/open_existing", |b| {
        let dir = tempfile::tempdir().expect("tempdir");
        Store::open(dir.path())
            .expect("create")
            .close()
            .expect("close");
        b.iter(|| {
            Store::open(dir.path())
                .expect("open")
                .close()
                .expect("close");
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    targets = store_benches
}
criterion_main!(benches);
