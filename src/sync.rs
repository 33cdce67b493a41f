//! Locks that are used through a panic. Every `std` lock in the daemon
//! guards state that one statement updates (maps, lists, counters, flags),
//! so a panic elsewhere while it was held cannot leave it torn: a poisoned
//! lock is used as it is rather than taking the daemon down with it.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// `lock()` that takes a poisoned mutex as it is.
pub trait LockAnyway<T: ?Sized> {
    fn lock_anyway(&self) -> MutexGuard<'_, T>;
}

impl<T: ?Sized> LockAnyway<T> for Mutex<T> {
    fn lock_anyway(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `read()` and `write()` that take a poisoned lock as it is.
pub trait RwLockAnyway<T: ?Sized> {
    fn read_anyway(&self) -> RwLockReadGuard<'_, T>;
    fn write_anyway(&self) -> RwLockWriteGuard<'_, T>;
}

impl<T: ?Sized> RwLockAnyway<T> for RwLock<T> {
    fn read_anyway(&self) -> RwLockReadGuard<'_, T> {
        self.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_anyway(&self) -> RwLockWriteGuard<'_, T> {
        self.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_is_used_as_it_is() {
        let mutex = Mutex::new(1);
        let lock = RwLock::new(2);
        std::thread::scope(|s| {
            let _ = s
                .spawn(|| {
                    let _m = mutex.lock().unwrap();
                    let _w = lock.write().unwrap();
                    panic!("poison both");
                })
                .join();
        });
        assert!(mutex.is_poisoned() && lock.is_poisoned());
        *mutex.lock_anyway() += 1;
        *lock.write_anyway() += 1;
        assert_eq!((*mutex.lock_anyway(), *lock.read_anyway()), (2, 3));
    }
}
