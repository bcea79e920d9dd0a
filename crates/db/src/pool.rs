//! A fixed set of worker threads, each with its own connection, working through a list. Drain,
//! restore and verify all work this way; the first failure stops every worker at its next item.
//!
//! May use: `error`.

use crate::error::{DbError, Result};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Runs `each` over `items` on up to `workers` threads; `open` makes each thread's state (its
/// connection). Results come back in item order. Anything may set `abort` to stop the workers;
/// the first real error is returned rather than the `Aborted` of the workers it stopped.
pub fn run<T, S, R>(
    workers: usize,
    items: &[T],
    abort: &AtomicBool,
    open: impl Fn() -> Result<S> + Sync,
    each: impl Fn(&mut S, &T) -> Result<R> + Sync,
) -> Result<Vec<R>>
where
    T: Sync,
    R: Send,
{
    let threads = workers.max(1).min(items.len());
    let next = AtomicUsize::new(0);
    let first_error: Mutex<Option<DbError>> = Mutex::new(None);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    let fail = |e: DbError| {
        abort.store(true, Ordering::SeqCst);
        let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() || matches!(*slot, Some(DbError::Aborted)) {
            *slot = Some(e);
        }
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut state = match open() {
                        Ok(state) => state,
                        Err(e) => return fail(e),
                    };
                    while !abort.load(Ordering::SeqCst) {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(item) = items.get(i) else { return };
                        match each(&mut state, item) {
                            Ok(r) => results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r),
                            Err(e) => return fail(e),
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            if h.join().is_err() {
                fail(DbError::Panicked);
            }
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.into_iter().collect::<Option<Vec<R>>>().ok_or(DbError::Aborted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_item_order() -> Result<()> {
        let abort = AtomicBool::new(false);
        let items: Vec<u32> = (0..100).collect();
        let out = run(4, &items, &abort, || Ok(()), |_, i| Ok(i * 2))?;
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        Ok(())
    }

    #[test]
    fn the_first_real_error_wins_and_stops_the_rest() {
        let abort = AtomicBool::new(false);
        let done = AtomicUsize::new(0);
        let items: Vec<u32> = (0..1000).collect();
        let out = run(
            3,
            &items,
            &abort,
            || Ok(()),
            |_, &i| {
                if i == 5 {
                    return Err(DbError::NoSuchDatabase("x".into()));
                }
                done.fetch_add(1, Ordering::SeqCst);
                Ok(i)
            },
        );
        assert!(matches!(out, Err(DbError::NoSuchDatabase(_))), "{out:?}");
        assert!(done.load(Ordering::SeqCst) < 999, "workers stopped early");
    }

    #[test]
    fn an_outside_abort_is_reported_as_aborted() {
        let abort = AtomicBool::new(true);
        let out = run(2, &[1, 2, 3], &abort, || Ok(()), |_, i| Ok(*i));
        assert!(matches!(out, Err(DbError::Aborted)));
    }
}
