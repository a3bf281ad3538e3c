//! Pharaoh alignment format: one line per sentence pair, `i-j` links (to be completed).

use crate::ragged::Ragged;

/// A link `(source index, target index)`, 0-based.
pub type Link = (u32, u32);

/// Links of every sentence pair.
pub type Alignment = Ragged<Link>;
