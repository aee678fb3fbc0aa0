//! Baseline relay for the igloo relay benchmark: `nostr-relay-builder`'s in-memory relay on
//! 127.0.0.1, on a current-thread runtime like igloo's, printing `PORT <n>` on stdout.

use nostr_relay_builder::prelude::*;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // Same storage cap as igloo's default (10,000 events); its default 60 events/min rate
        // limit is lifted, as igloo's is for the benchmark.
        let db = MemoryDatabase::with_opts(MemoryDatabaseOptions {
            events: true,
            max_events: Some(10_000),
        });
        let builder = RelayBuilder::default()
            .addr(std::net::IpAddr::from([127, 0, 0, 1]))
            .database(db)
            .rate_limit(RateLimit {
                max_reqs: 500,
                notes_per_minute: u32::MAX,
            });
        let relay = LocalRelay::new(builder);
        relay.run().await.expect("relay runs");
        let url = relay.url().await;
        let port = url.as_str().rsplit(':').next().unwrap_or("").trim_end_matches('/');
        println!("PORT {port}");
        std::future::pending::<()>().await;
    });
}
