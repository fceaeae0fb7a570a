//! Bounded caches of compiled programs: the least-recently-used map both compile caches are
//! made of ([`Lru`]), its size setting (`KILN_CACHE_SIZE`, [`cache_capacity`]) and the counters
//! users read ([`CacheStats`]). `compile.rs` owns the caches themselves and the calls that
//! reach them ([`crate::set_cache_capacity`], [`crate::cache_stats`]); this module sits below
//! it and knows nothing of programs.
//!
//! Guarantee: a cache never holds more than its capacity; inserting into a full cache evicts
//! the entry looked up or inserted longest ago. Evicting only drops the cache's reference: an
//! [`crate::Executable`] (or a `TrainStep`) handed out earlier keeps its program alive and
//! working.

use crate::{Error, Result};
use std::cell::Cell;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::OnceLock;

/// Entries per cache when neither `KILN_CACHE_SIZE` nor [`crate::set_cache_capacity`] says
/// otherwise.
pub const DEFAULT_CACHE_CAPACITY: usize = 64;

/// The environment variable that sets the default capacity of every compile cache.
const CACHE_SIZE_VAR: &str = "KILN_CACHE_SIZE";

thread_local! {
    /// This thread's capacity, set by [`crate::set_cache_capacity`]; `None`: the process default.
    static CAPACITY: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The process default: `KILN_CACHE_SIZE` read once, else [`DEFAULT_CACHE_CAPACITY`]. A value
/// that is not a positive integer is an error, reported by every evaluation rather than
/// silently ignored.
fn process_default() -> Result<usize> {
    static FROM_ENV: OnceLock<std::result::Result<usize, String>> = OnceLock::new();
    FROM_ENV
        .get_or_init(|| parse_capacity(std::env::var(CACHE_SIZE_VAR).ok().as_deref()))
        .clone()
        .map_err(|msg| Error::api("compile", msg))
}

/// The capacity `KILN_CACHE_SIZE` asks for (`None`: unset), or why it is not one.
fn parse_capacity(var: Option<&str>) -> std::result::Result<usize, String> {
    match var {
        None => Ok(DEFAULT_CACHE_CAPACITY),
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "{CACHE_SIZE_VAR}={text:?}: expected a positive number of entries"
            )),
        },
    }
}

/// The capacity of this thread's compile caches (see [`crate::set_cache_capacity`]).
///
/// # Errors
/// When `KILN_CACHE_SIZE` is set to something other than a positive integer and
/// [`crate::set_cache_capacity`] has not overridden it on this thread.
pub fn cache_capacity() -> Result<usize> {
    match CAPACITY.with(Cell::get) {
        Some(n) => Ok(n),
        None => process_default(),
    }
}

/// Records `entries` as this thread's capacity (applied by `compile.rs`).
///
/// # Errors
/// A capacity of 0 (a cache that keeps nothing would recompile at every evaluation).
pub(crate) fn set_thread_capacity(entries: usize) -> Result<()> {
    if entries == 0 {
        return Err(Error::api(
            "set_cache_capacity",
            "a compile cache needs room for at least one entry",
        ));
    }
    CAPACITY.with(|c| c.set(Some(entries)));
    Ok(())
}

/// Sizes and counters of one compile cache (see [`crate::cache_stats`] and
/// [`crate::Graph::cache_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Entries held now (never more than `capacity`).
    pub entries: usize,
    /// The most entries the cache keeps.
    pub capacity: usize,
    /// Lookups that found a program.
    pub hits: u64,
    /// Lookups that found none (each is followed by a compile or by a hit one level down).
    pub misses: u64,
    /// Entries dropped to make room.
    pub evictions: u64,
}

/// A map that keeps at most `capacity` entries, evicting the least recently used.
///
/// Recency is a counter stamped on each entry at lookup and insertion; eviction scans for the
/// smallest stamp. That is O(entries), and it only happens on an insertion into a full cache,
/// which follows a compile costing far more, so a linked list is not worth its unsafety.
pub(crate) struct Lru<K, V> {
    map: HashMap<K, (V, u64)>,
    clock: u64,
    stats: CacheStats,
}

impl<K: Hash + Eq, V: Clone> Default for Lru<K, V> {
    /// An empty cache of [`DEFAULT_CACHE_CAPACITY`] entries.
    fn default() -> Lru<K, V> {
        Lru::new(DEFAULT_CACHE_CAPACITY)
    }
}

impl<K: Hash + Eq, V: Clone> Lru<K, V> {
    /// An empty cache that keeps at most `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> Lru<K, V> {
        Lru {
            map: HashMap::new(),
            clock: 0,
            stats: CacheStats {
                capacity: capacity.max(1),
                ..CacheStats::default()
            },
        }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// The value for `key`, marking it most recently used; counts a hit or a miss.
    pub(crate) fn get(&mut self, key: &K) -> Option<V> {
        let now = self.tick();
        match self.map.get_mut(key) {
            Some((v, stamp)) => {
                *stamp = now;
                self.stats.hits += 1;
                Some(v.clone())
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    /// Inserts (or replaces) `key`, evicting least recently used entries to stay in capacity.
    pub(crate) fn insert(&mut self, key: K, value: V) {
        let now = self.tick();
        if !self.map.contains_key(&key) {
            self.evict_down_to(self.stats.capacity - 1);
        }
        self.map.insert(key, (value, now));
    }

    /// Sets the capacity (at least one), evicting down to it now.
    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.stats.capacity = capacity.max(1);
        self.evict_down_to(self.stats.capacity);
    }

    fn evict_down_to(&mut self, len: usize) {
        while self.map.len() > len {
            let oldest = self.map.iter().min_by_key(|(_, (_, stamp))| *stamp);
            // The loop runs only while the map is non-empty, so there is an oldest entry; the
            // stamp is copied out to end the borrow before removing.
            let Some(stamp) = oldest.map(|(_, (_, s))| *s) else {
                return;
            };
            self.map.retain(|_, (_, s)| *s != stamp);
            self.stats.evictions += 1;
        }
    }

    /// Keeps only the entries for which `keep` holds (not counted as evictions).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.map.retain(|k, _| keep(k));
    }

    /// Forgets every entry (counters are kept).
    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }

    /// The sizes and counters.
    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.map.len(),
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_capacity, Lru, DEFAULT_CACHE_CAPACITY};

    #[test]
    fn the_environment_variable_is_a_positive_count() {
        assert_eq!(parse_capacity(None), Ok(DEFAULT_CACHE_CAPACITY));
        assert_eq!(parse_capacity(Some(" 8 ")), Ok(8));
        for bad in ["0", "-3", "lots", ""] {
            let err = parse_capacity(Some(bad)).unwrap_err();
            assert!(err.contains("KILN_CACHE_SIZE"), "{err}");
        }
    }

    #[test]
    fn evicts_the_least_recently_used() {
        let mut c = Lru::new(2);
        c.insert("a", 1);
        c.insert("b", 2);
        assert_eq!(c.get(&"a"), Some(1)); // b is now the oldest
        c.insert("c", 3);
        assert_eq!(c.get(&"b"), None);
        assert_eq!(c.get(&"a"), Some(1));
        assert_eq!(c.get(&"c"), Some(3));
        let s = c.stats();
        assert_eq!((s.entries, s.capacity, s.evictions), (2, 2, 1));
        assert_eq!((s.hits, s.misses), (3, 1));
        c.set_capacity(1);
        assert_eq!(c.stats().entries, 1);
        assert_eq!(c.get(&"c"), Some(3));
    }

    #[test]
    fn replacing_a_key_evicts_nothing() {
        let mut c = Lru::new(1);
        c.insert("a", 1);
        c.insert("a", 2);
        assert_eq!(c.get(&"a"), Some(2));
        assert_eq!(c.stats().evictions, 0);
    }
}
