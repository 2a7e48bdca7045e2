//! Per-key rate limits: a quota of N calls per minute, counted in a window
//! that opens with a key's first call and lasts a minute. The N+1st call
//! within it is refused until the window ends, so "60 a minute" means what
//! a client reads it to mean: at most 60 calls in any window the server
//! counts, and the 61st in a minute is refused.
//!
//! Limits are kept per process: with R replicas behind a load balancer a key
//! may get up to R times its quota.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use numhub_runtime::clock::Timestamp;

use crate::identity::RateLimits;

const PERIOD_MICROS: i64 = 60_000_000;
/// Past this many keys, those whose windows have closed are forgotten.
const MAX_TRACKED_KEYS: usize = 100_000;

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Admitted. `limit` and `remaining` describe the quota closest to
    /// running out, for the `x-ratelimit-*` headers.
    Allowed { limit: u32, remaining: u32 },
    /// Refused: `limit` is the quota that refused it; its window ends after
    /// `retry_after`.
    Limited { limit: u32, retry_after: Duration },
}

/// One quota's window: when it opened and how many calls it counted.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    start: i64,
    count: u32,
}

impl Window {
    fn is_open(&self, now: i64) -> bool {
        self.count > 0 && now < self.start + PERIOD_MICROS
    }

    /// The window as it stands at `now`: a closed one starts afresh.
    fn current(self, now: i64) -> Self {
        if self.is_open(now) {
            self
        } else {
            Self {
                start: now,
                count: 0,
            }
        }
    }

    fn retry_after(&self, now: i64) -> Duration {
        Duration::from_micros((self.start + PERIOD_MICROS - now).max(0) as u64)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct KeyState {
    all: Window,
    money: Window,
}

/// The rate limits of every key this process has seen.
#[derive(Debug, Clone, Default)]
pub struct RateLimiter {
    keys: Arc<Mutex<HashMap<Arc<str>, KeyState>>>,
}

impl RateLimiter {
    /// Counts one request of `key` at `now` against its quota, and against
    /// its money quota too when the RPC moves money. A refused request counts
    /// against nothing.
    pub fn check(
        &self,
        key: &Arc<str>,
        limits: RateLimits,
        moves_money: bool,
        now: Timestamp,
    ) -> Decision {
        let now = now.unix_micros();
        let mut keys = self.keys.lock().expect("rate limiter lock");
        if keys.len() >= MAX_TRACKED_KEYS && !keys.contains_key(key) {
            keys.retain(|_, state| state.all.is_open(now) || state.money.is_open(now));
        }
        let state = keys.entry(key.clone()).or_default();
        let all = state.all.current(now);
        let money = state.money.current(now);
        let all_limit = limits.requests_per_minute;
        let money_limit = limits.money_requests_per_minute;
        if all.count >= all_limit {
            return Decision::Limited {
                limit: all_limit,
                retry_after: all.retry_after(now),
            };
        }
        if moves_money && money.count >= money_limit {
            return Decision::Limited {
                limit: money_limit,
                retry_after: money.retry_after(now),
            };
        }
        state.all = Window {
            count: all.count + 1,
            ..all
        };
        let all_remaining = all_limit - state.all.count;
        if !moves_money {
            return Decision::Allowed {
                limit: all_limit,
                remaining: all_remaining,
            };
        }
        state.money = Window {
            count: money.count + 1,
            ..money
        };
        let money_remaining = money_limit - state.money.count;
        if money_remaining < all_remaining {
            Decision::Allowed {
                limit: money_limit,
                remaining: money_remaining,
            }
        } else {
            Decision::Allowed {
                limit: all_limit,
                remaining: all_remaining,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: RateLimits = RateLimits {
        requests_per_minute: 60,
        money_requests_per_minute: 10,
    };

    fn at(seconds: f64) -> Timestamp {
        Timestamp::from_unix_micros(1_700_000_000_000_000 + (seconds * 1e6) as i64)
    }

    #[test]
    fn the_61st_call_in_a_minute_is_refused_however_they_are_spread() {
        let limiter = RateLimiter::default();
        let key: Arc<str> = "k".into();
        // 60 calls, one every 0.9 s: 53.1 s in all.
        for i in 0..60 {
            assert_eq!(
                limiter.check(&key, LIMITS, false, at(f64::from(i) * 0.9)),
                Decision::Allowed {
                    limit: 60,
                    remaining: 59 - i
                }
            );
        }
        assert_eq!(
            limiter.check(&key, LIMITS, false, at(54.0)),
            Decision::Limited {
                limit: 60,
                retry_after: Duration::from_secs(6)
            }
        );
        // Refusals are not counted; the window still ends at 60 s.
        assert_eq!(
            limiter.check(&key, LIMITS, false, at(59.5)),
            Decision::Limited {
                limit: 60,
                retry_after: Duration::from_millis(500)
            }
        );
        // A new window opens with the next call after it.
        assert_eq!(
            limiter.check(&key, LIMITS, false, at(60.0)),
            Decision::Allowed {
                limit: 60,
                remaining: 59
            }
        );
    }

    #[test]
    fn money_rpcs_also_count_against_the_tighter_quota() {
        let limiter = RateLimiter::default();
        let key: Arc<str> = "k".into();
        for i in 0..10 {
            assert_eq!(
                limiter.check(&key, LIMITS, true, at(0.0)),
                Decision::Allowed {
                    limit: 10,
                    remaining: 9 - i
                }
            );
        }
        assert_eq!(
            limiter.check(&key, LIMITS, true, at(30.0)),
            Decision::Limited {
                limit: 10,
                retry_after: Duration::from_secs(30)
            }
        );
        // Other RPCs still pass, and the money calls used the general quota.
        assert_eq!(
            limiter.check(&key, LIMITS, false, at(30.0)),
            Decision::Allowed {
                limit: 60,
                remaining: 49
            }
        );
    }

    #[test]
    fn keys_are_limited_apart() {
        let limiter = RateLimiter::default();
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let one = RateLimits {
            requests_per_minute: 1,
            money_requests_per_minute: 1,
        };
        assert!(matches!(
            limiter.check(&a, one, false, at(0.0)),
            Decision::Allowed { .. }
        ));
        assert!(matches!(
            limiter.check(&a, one, false, at(0.0)),
            Decision::Limited { .. }
        ));
        assert!(matches!(
            limiter.check(&b, one, false, at(0.0)),
            Decision::Allowed { .. }
        ));
    }
}
