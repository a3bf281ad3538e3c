//! xadj-core: the parallel-corpus data path of xadj, in pure Rust.
//!
//! Text enters once (files read by path), words are interned, and everything per sentence is a
//! flat `(values, offsets)` array: row `i` is `values[offsets[i]..offsets[i + 1]]`.

pub mod aer;
pub mod atomic;
pub mod batch;
pub mod corpus;
pub mod error;
pub mod fast_align;
pub mod filter;
pub mod pharaoh;
pub mod ragged;
pub mod sample;
pub mod subword;
pub mod symmetrize;
pub mod wordtok;

pub use error::{Error, Result};
