//! Ragged rows stored flat: row `i` is `values[offsets[i]..offsets[i + 1]]`.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ragged<T> {
    pub values: Vec<T>,
    /// `len() + 1` entries, starting at 0.
    pub offsets: Vec<i64>,
}

impl<T> Default for Ragged<T> {
    fn default() -> Self {
        Ragged {
            values: Vec::new(),
            offsets: vec![0],
        }
    }
}

impl<T> Ragged<T> {
    pub fn with_capacity(rows: usize, values: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Ragged {
            values: Vec::with_capacity(values),
            offsets,
        }
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn row(&self, i: usize) -> &[T] {
        &self.values[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// Closes the row made of everything pushed to `values` since the last call.
    pub fn end_row(&mut self) {
        self.offsets.push(self.values.len() as i64);
    }

    pub fn push_row(&mut self, row: impl IntoIterator<Item = T>) {
        self.values.extend(row);
        self.end_row();
    }

    pub fn rows(&self) -> impl ExactSizeIterator<Item = &[T]> + '_ {
        (0..self.len()).map(move |i| self.row(i))
    }

    /// Concatenates per-chunk results in order (used after parallel work, so the result does not
    /// depend on the thread count).
    pub fn concat(parts: Vec<Ragged<T>>) -> Self {
        let rows = parts.iter().map(Ragged::len).sum();
        let values = parts.iter().map(|p| p.values.len()).sum();
        let mut out = Ragged::with_capacity(rows, values);
        for part in parts {
            let base = out.values.len() as i64;
            out.offsets
                .extend(part.offsets[1..].iter().map(|o| o + base));
            out.values.extend(part.values);
        }
        out
    }
}

/// Checks that `offsets` is a valid offset array over `n_values` values.
pub fn check_offsets(name: &str, offsets: &[i64], n_values: usize) -> crate::Result<()> {
    let ok = offsets.first() == Some(&0)
        && offsets.last().is_some_and(|&l| l as usize == n_values)
        && offsets.windows(2).all(|w| w[0] <= w[1]);
    if ok {
        Ok(())
    } else {
        Err(crate::Error::Invalid(format!(
            "{name}: offsets must start at 0, never decrease and end at {n_values}"
        )))
    }
}
