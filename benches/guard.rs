//! GUARD costs on the request path: one rate-limit check (hot key, and under a flood of new
//! addresses at the key cap) and one login-throttle check.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use igloo::config::RateLimits;
use igloo::http::ratelimit::{Bucket, LoginThrottle, RateLimiter};

fn limits() -> RateLimits {
    RateLimits {
        enabled: true,
        window: Duration::from_secs(900),
        max: u32::MAX,
        env_write: (10, Duration::from_secs(900)),
        recovery: (3, Duration::from_secs(900)),
        ws_upgrade: (30, Duration::from_secs(900)),
        ws_max_connections_per_ip: 5,
        ws_msg_rate: 20,
        ws_msg_burst: 40,
    }
}

fn guard_benches(c: &mut Criterion) {
    let l = RateLimiter::new(&limits());
    let ip = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20));
    c.bench_function("guard/ratelimit_same_address", |b| {
        b.iter(|| black_box(l.check(Bucket::Auth, black_box(ip))))
    });

    let flood = RateLimiter::new(&limits());
    let mut n = 0u32;
    c.bench_function("guard/ratelimit_new_address_flood", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            black_box(flood.check(Bucket::Auth, IpAddr::V4(n.into())))
        })
    });

    let t = LoginThrottle::new(true);
    for i in 0..3 {
        t.record_failure("admin", IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)));
    }
    c.bench_function("guard/login_throttle_check", |b| {
        b.iter(|| black_box(t.check(black_box("admin"), ip)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = guard_benches
}
criterion_main!(benches);
