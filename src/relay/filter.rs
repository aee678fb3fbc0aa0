//! NIP-01 filter matching against [`EventEntry`].
//!
//! We do not use `nostr::Filter::match_event`: it treats an empty list as "match anything"
//! (NIP-01 lists are an OR of their values, so an empty one matches nothing) and builds a map
//! of the event's tags on every call, which is too slow for fan-out.

use std::collections::{BTreeSet, HashSet};

use nostr::prelude::{EventId, Filter, PublicKey};

use super::entry::EventEntry;

/// Why a filter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("unsupported: search (NIP-50) is not supported by this relay")]
    Search,
}

/// A filter prepared for fast matching.
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    ids: Option<HashSet<EventId>>,
    authors: Option<HashSet<PublicKey>>,
    kinds: Option<HashSet<u16>>,
    /// (letter, accepted values); every letter must match (AND), any value (OR).
    tags: Vec<(u8, BTreeSet<String>)>,
    since: Option<u64>,
    until: Option<u64>,
    limit: Option<usize>,
}

impl CompiledFilter {
    pub fn compile(filter: &Filter) -> Result<Self, FilterError> {
        if filter.search.is_some() {
            return Err(FilterError::Search);
        }
        Ok(Self {
            ids: filter.ids.as_ref().map(|s| s.iter().copied().collect()),
            authors: filter.authors.as_ref().map(|s| s.iter().copied().collect()),
            kinds: filter
                .kinds
                .as_ref()
                .map(|s| s.iter().map(|k| k.as_u16()).collect()),
            tags: filter
                .generic_tags
                .iter()
                .map(|(letter, values)| (letter.as_char() as u8, values.clone()))
                .collect(),
            since: filter.since.map(|t| t.as_secs()),
            until: filter.until.map(|t| t.as_secs()),
            limit: filter.limit,
        })
    }

    /// Most stored events this filter asks for (`None`: all).
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// The ids, if this filter names events by id (lets the store look them up directly).
    pub fn ids(&self) -> Option<&HashSet<EventId>> {
        self.ids.as_ref()
    }

    /// Newest timestamp this filter can match (lets the store skip newer events).
    pub fn until(&self) -> Option<u64> {
        self.until
    }

    /// Oldest timestamp this filter can match (lets the store stop scanning early).
    pub fn since(&self) -> Option<u64> {
        self.since
    }

    pub fn matches(&self, e: &EventEntry) -> bool {
        if self.since.is_some_and(|s| e.created_at < s)
            || self.until.is_some_and(|u| e.created_at > u)
        {
            return false;
        }
        if self.kinds.as_ref().is_some_and(|k| !k.contains(&e.kind)) {
            return false;
        }
        if self
            .authors
            .as_ref()
            .is_some_and(|a| !a.contains(&e.pubkey))
        {
            return false;
        }
        if self.ids.as_ref().is_some_and(|i| !i.contains(&e.id)) {
            return false;
        }
        self.tags.iter().all(|(letter, values)| {
            e.tags
                .iter()
                .any(|(l, v)| l == letter && values.contains(&**v))
        })
    }
}

/// True if any filter matches (the filters of one subscription are OR-ed).
pub fn any_match(filters: &[CompiledFilter], e: &EventEntry) -> bool {
    filters.iter().any(|f| f.matches(e))
}
