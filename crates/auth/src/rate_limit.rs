//! Per-key rate limits with GCRA (the generic cell rate algorithm): a quota of
//! N per minute admits a burst of N, then one request every 60/N seconds. Each
//! key keeps one instant per quota (its "theoretical arrival time"), so the
//! state is tiny and a decision is a few arithmetic operations.
//!
//! Limits are kept per process: with R replicas behind a load balancer a key
//! may get up to R times its quota.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use numhub_runtime::clock::Timestamp;

use crate::identity::RateLimits;

const PERIOD_MICROS: i64 = 60_000_000;
/// Past this many keys, those whose quotas are full again are forgotten.
const MAX_TRACKED_KEYS: usize = 100_000;

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Admitted. `limit` and `remaining` describe the quota closest to
    /// running out, for the `x-ratelimit-*` headers.
    Allowed { limit: u32, remaining: u32 },
    /// Refused: `limit` is the quota that refused it.
    Limited { limit: u32, retry_after: Duration },
}

#[derive(Debug, Clone, Copy, Default)]
struct KeyState {
    /// Theoretical arrival time of the next request, per quota (Unix µs).
    all: i64,
    money: i64,
}

/// The rate limits of every key this process has seen.
#[derive(Debug, Clone, Default)]
pub struct RateLimiter {
    keys: Arc<Mutex<HashMap<Arc<str>, KeyState>>>,
}

/// One quota's verdict, not yet committed.
enum Verdict {
    Admit { tat: i64, remaining: u32 },
    Refuse { retry_after_micros: i64 },
}

fn gcra(tat: i64, quota: u32, now: i64) -> Verdict {
    // At least 1 µs, so a huge quota cannot divide by zero below.
    let interval = (PERIOD_MICROS / i64::from(quota.max(1))).max(1);
    let new_tat = tat.max(now) + interval;
    let used = new_tat - now;
    if used > PERIOD_MICROS {
        Verdict::Refuse {
            retry_after_micros: used - PERIOD_MICROS,
        }
    } else {
        let remaining = ((PERIOD_MICROS - used) / interval) as u32;
        Verdict::Admit {
            tat: new_tat,
            remaining: remaining.min(quota),
        }
    }
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
            keys.retain(|_, state| state.all > now || state.money > now);
        }
        let state = keys.entry(key.clone()).or_default();
        let all = gcra(state.all, limits.requests_per_minute, now);
        let money = moves_money.then(|| gcra(state.money, limits.money_requests_per_minute, now));
        match (all, money) {
            (Verdict::Refuse { retry_after_micros }, _) => Decision::Limited {
                limit: limits.requests_per_minute,
                retry_after: retry_delay(retry_after_micros),
            },
            (_, Some(Verdict::Refuse { retry_after_micros })) => Decision::Limited {
                limit: limits.money_requests_per_minute,
                retry_after: retry_delay(retry_after_micros),
            },
            (Verdict::Admit { tat, remaining }, None) => {
                state.all = tat;
                Decision::Allowed {
                    limit: limits.requests_per_minute,
                    remaining,
                }
            }
            (
                Verdict::Admit { tat, remaining },
                Some(Verdict::Admit {
                    tat: money_tat,
                    remaining: money_remaining,
                }),
            ) => {
                state.all = tat;
                state.money = money_tat;
                if money_remaining < remaining {
                    Decision::Allowed {
                        limit: limits.money_requests_per_minute,
                        remaining: money_remaining,
                    }
                } else {
                    Decision::Allowed {
                        limit: limits.requests_per_minute,
                        remaining,
                    }
                }
            }
        }
    }
}

fn retry_delay(micros: i64) -> Duration {
    Duration::from_micros(micros.max(0) as u64)
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
    fn sixty_per_minute_then_one_per_second() {
        let limiter = RateLimiter::default();
        let key: Arc<str> = "k".into();
        for i in 0..60 {
            assert_eq!(
                limiter.check(&key, LIMITS, false, at(0.0)),
                Decision::Allowed {
                    limit: 60,
                    remaining: 59 - i
                }
            );
        }
        assert_eq!(
            limiter.check(&key, LIMITS, false, at(0.0)),
            Decision::Limited {
                limit: 60,
                retry_after: Duration::from_secs(1)
            }
        );
        // Refusals are not counted: half a second later, half a second to go.
        assert_eq!(
            limiter.check(&key, LIMITS, false, at(0.5)),
            Decision::Limited {
                limit: 60,
                retry_after: Duration::from_millis(500)
            }
        );
        assert!(matches!(
            limiter.check(&key, LIMITS, false, at(1.0)),
            Decision::Allowed { remaining: 0, .. }
        ));
        // A quiet minute refills the whole quota.
        assert_eq!(
            limiter.check(&key, LIMITS, false, at(61.0)),
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
            limiter.check(&key, LIMITS, true, at(0.0)),
            Decision::Limited {
                limit: 10,
                retry_after: Duration::from_secs(6)
            }
        );
        // Other RPCs still pass, and the money calls used the general quota.
        assert_eq!(
            limiter.check(&key, LIMITS, false, at(0.0)),
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
