//! Data loading: the [`Dataset`] trait, [`TensorDataset`], a [`DataLoader`] with batch size,
//! seeded shuffling, `drop_last` and a last partial batch, and CSV reading.
//!
//! Shuffling draws a permutation with kiln's PyTorch-compatible `randperm` from the loader's own
//! generator (seeded by the user), so a run is reproducible; the order matches what
//! `torch.randperm` gives for that seed, not what PyTorch's `RandomSampler` (which seeds itself
//! from the global generator) would give.

use crate::random::Generator;
use crate::{Error, Result};
use kiln_ir::{HostTensor, Shape, TensorData};
use std::path::Path;

/// A collection of samples, each a list of tensors (e.g. features and label).
pub trait Dataset {
    /// Number of samples.
    fn len(&self) -> usize;

    /// True when there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The samples at `indices`, stacked along a new first axis (one tensor per field).
    fn batch(&self, indices: &[usize]) -> Result<Vec<HostTensor>>;
}

/// Tensors that share their first dimension; sample `i` is row `i` of each
/// (`torch.utils.data.TensorDataset`).
#[derive(Clone, Debug)]
pub struct TensorDataset {
    tensors: Vec<HostTensor>,
}

impl TensorDataset {
    /// Pairs tensors row by row; all must have the same (non-zero rank) first dimension.
    pub fn new(tensors: Vec<HostTensor>) -> Result<TensorDataset> {
        let n = tensors.first().and_then(|t| t.dims().first().copied());
        for t in &tensors {
            if t.dims().first().copied() != n {
                return Err(Error::api(
                    "TensorDataset",
                    format!(
                        "size mismatch between tensors: first dimensions {:?} and {:?}",
                        n,
                        t.dims().first()
                    ),
                ));
            }
        }
        Ok(TensorDataset { tensors })
    }

    /// The tensors.
    pub fn tensors(&self) -> &[HostTensor] {
        &self.tensors
    }

    /// The samples at `indices` as a new dataset (e.g. a train/test split).
    pub fn subset(&self, indices: &[usize]) -> Result<TensorDataset> {
        Ok(TensorDataset {
            tensors: self.batch(indices)?,
        })
    }
}

impl Dataset for TensorDataset {
    fn len(&self) -> usize {
        self.tensors
            .first()
            .and_then(|t| t.dims().first().copied())
            .unwrap_or(0)
    }

    fn batch(&self, indices: &[usize]) -> Result<Vec<HostTensor>> {
        self.tensors
            .iter()
            .map(|t| select_rows(t, indices))
            .collect()
    }
}

/// Rows `indices` of `t` (along its first axis), in that order.
pub fn select_rows(t: &HostTensor, indices: &[usize]) -> Result<HostTensor> {
    let dims = t.dims();
    let n = *dims
        .first()
        .ok_or_else(|| Error::api("select_rows", "a scalar has no rows"))?;
    if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
        return Err(Error::api(
            "select_rows",
            format!("index {bad} is out of range for {n} rows"),
        ));
    }
    let row: usize = dims[1..].iter().product();
    let mut out_dims = dims.to_vec();
    out_dims[0] = indices.len();
    fn pick<T: Copy>(v: &[T], idx: &[usize], row: usize) -> Vec<T> {
        idx.iter()
            .flat_map(|&i| v[i * row..(i + 1) * row].iter().copied())
            .collect()
    }
    let data = match t.data() {
        TensorData::Bool(v) => TensorData::Bool(pick(v, indices, row)),
        TensorData::I32(v) => TensorData::I32(pick(v, indices, row)),
        TensorData::I64(v) => TensorData::I64(pick(v, indices, row)),
        TensorData::F32(v) => TensorData::F32(pick(v, indices, row)),
        TensorData::F64(v) => TensorData::F64(pick(v, indices, row)),
    };
    Ok(HostTensor::new(Shape::new(&out_dims)?, data)?)
}

/// Batches of a dataset (`torch.utils.data.DataLoader`).
pub struct DataLoader<'a, D: Dataset> {
    dataset: &'a D,
    batch_size: usize,
    shuffle: Option<Generator>,
    drop_last: bool,
}

impl<'a, D: Dataset> DataLoader<'a, D> {
    /// Batches of `batch_size` samples in order; the last batch may be smaller.
    pub fn new(dataset: &'a D, batch_size: usize) -> Result<DataLoader<'a, D>> {
        if batch_size == 0 {
            return Err(Error::api(
                "DataLoader",
                "batch_size should be a positive integer value, but got 0",
            ));
        }
        Ok(DataLoader {
            dataset,
            batch_size,
            shuffle: None,
            drop_last: false,
        })
    }

    /// Reshuffles the samples every epoch with a generator seeded by `seed`.
    pub fn shuffle(mut self, seed: u64) -> Self {
        self.shuffle = Some(Generator::new(seed));
        self
    }

    /// Drops the last batch when it is smaller than `batch_size`.
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// Number of batches per epoch.
    pub fn num_batches(&self) -> usize {
        let n = self.dataset.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// One epoch: the batches, each a list of stacked fields. Shuffling draws a new
    /// permutation each call.
    pub fn epoch(&mut self) -> impl Iterator<Item = Result<Vec<HostTensor>>> + '_ {
        let n = self.dataset.len();
        let order: Vec<usize> = match &mut self.shuffle {
            Some(g) => g.randperm(n).into_iter().map(|i| i as usize).collect(),
            None => (0..n).collect(),
        };
        let count = self.num_batches();
        let (bs, dataset) = (self.batch_size, self.dataset);
        (0..count).map(move |b| {
            let end = ((b + 1) * bs).min(n);
            dataset.batch(&order[b * bs..end])
        })
    }
}

/// A table of numbers read from a CSV file.
#[derive(Clone, Debug)]
pub struct CsvTable {
    /// Number of rows (not counting a skipped header).
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Row-major values.
    pub values: Vec<f64>,
}

impl CsvTable {
    /// Columns `range` as an `f32` tensor `[rows, range.len()]`.
    pub fn columns_f32(&self, range: std::ops::Range<usize>) -> Result<HostTensor> {
        self.columns(range, kiln_ir::DType::F32)
    }

    /// Column `c` as an `i64` tensor `[rows]` (e.g. class labels).
    pub fn column_i64(&self, c: usize) -> Result<HostTensor> {
        let t = self.columns(c..c + 1, kiln_ir::DType::I64)?;
        Ok(t.reshape(Shape::new(&[self.rows])?)?)
    }

    fn columns(&self, range: std::ops::Range<usize>, dtype: kiln_ir::DType) -> Result<HostTensor> {
        if range.end > self.cols || range.start > range.end {
            return Err(Error::api(
                "CsvTable",
                format!(
                    "columns {range:?} are out of range for {} columns",
                    self.cols
                ),
            ));
        }
        let w = range.len();
        let values: Vec<f64> = (0..self.rows)
            .flat_map(|r| {
                self.values[r * self.cols + range.start..r * self.cols + range.end]
                    .iter()
                    .copied()
            })
            .collect();
        Ok(HostTensor::from_f64(
            dtype,
            Shape::new(&[self.rows, w])?,
            &values,
        )?)
    }
}

/// Parses CSV text of numbers (comma-separated, one row per line, blank lines ignored),
/// optionally skipping a header line. Every row must have the same number of fields.
pub fn parse_csv(text: &str, skip_header: bool) -> Result<CsvTable> {
    let mut values = Vec::new();
    let mut cols = None;
    let mut rows = 0;
    for (lineno, line) in text.lines().enumerate().skip(usize::from(skip_header)) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        match cols {
            None => cols = Some(fields.len()),
            Some(c) if c != fields.len() => {
                return Err(Error::api(
                    "csv",
                    format!("line {}: {} fields, expected {c}", lineno + 1, fields.len()),
                ))
            }
            Some(_) => {}
        }
        for (col, f) in fields.iter().enumerate() {
            let v: f64 = f.trim().parse().map_err(|_| {
                Error::api(
                    "csv",
                    format!(
                        "line {}, column {}: `{}` is not a number",
                        lineno + 1,
                        col + 1,
                        f.trim()
                    ),
                )
            })?;
            values.push(v);
        }
        rows += 1;
    }
    Ok(CsvTable {
        rows,
        cols: cols.unwrap_or(0),
        values,
    })
}

/// Reads a CSV file of numbers (see [`parse_csv`]).
pub fn read_csv(path: impl AsRef<Path>, skip_header: bool) -> Result<CsvTable> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::api("csv", format!("{}: {e}", path.display())))?;
    parse_csv(&text, skip_header)
}

/// A seeded split of `0..n` into a shuffled `(train, test)` pair with `test_count` test indices.
pub fn train_test_split(
    n: usize,
    test_count: usize,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    if test_count > n {
        return Err(Error::api(
            "train_test_split",
            format!("test_count {test_count} exceeds {n} samples"),
        ));
    }
    let perm: Vec<usize> = Generator::new(seed)
        .randperm(n)
        .into_iter()
        .map(|i| i as usize)
        .collect();
    let (test, train) = perm.split_at(test_count);
    Ok((train.to_vec(), test.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(n: usize) -> TensorDataset {
        let x = HostTensor::from_f64(
            kiln_ir::DType::F32,
            Shape::new(&[n, 2]).unwrap(),
            &(0..2 * n).map(|v| v as f64).collect::<Vec<_>>(),
        )
        .unwrap();
        let y = HostTensor::from((0..n as i64).collect::<Vec<i64>>());
        TensorDataset::new(vec![x, y]).unwrap()
    }

    #[test]
    fn batches_in_order_with_a_partial_last_batch() {
        let d = ds(5);
        let mut loader = DataLoader::new(&d, 2).unwrap();
        let batches: Vec<Vec<HostTensor>> = loader.epoch().collect::<Result<_>>().unwrap();
        assert_eq!(batches.len(), 3);
        assert_eq!(batches[0][0].as_f32().unwrap(), &[0.0, 1.0, 2.0, 3.0]);
        assert_eq!(batches[2][1].as_i64().unwrap(), &[4]);
        let mut dropping = DataLoader::new(&d, 2).unwrap().drop_last(true);
        assert_eq!(dropping.epoch().count(), 2);
    }

    #[test]
    fn seeded_shuffle_is_a_reproducible_permutation() {
        let d = ds(10);
        let labels = |seed| {
            let mut l = DataLoader::new(&d, 4).unwrap().shuffle(seed);
            let first: Vec<i64> = l
                .epoch()
                .flat_map(|b| b.unwrap()[1].as_i64().unwrap().to_vec())
                .collect();
            let second: Vec<i64> = l
                .epoch()
                .flat_map(|b| b.unwrap()[1].as_i64().unwrap().to_vec())
                .collect();
            (first, second)
        };
        let (a1, a2) = labels(7);
        assert_eq!(labels(7), (a1.clone(), a2.clone()));
        assert_ne!(a1, a2, "each epoch draws a new order");
        let mut sorted = a1.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<i64>>());
    }

    #[test]
    fn errors() {
        assert!(DataLoader::new(&ds(3), 0).is_err());
        let bad = TensorDataset::new(vec![
            HostTensor::from(vec![1.0f32, 2.0]),
            HostTensor::from(vec![1i64]),
        ]);
        assert!(bad.is_err());
        assert!(ds(3).batch(&[3]).is_err());
        let err = parse_csv("1,2\n3\n", false).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = parse_csv("1,x\n", false).unwrap_err();
        assert!(err.to_string().contains("column 2"), "{err}");
        assert!(train_test_split(3, 4, 0).is_err());
    }

    #[test]
    fn csv_columns() {
        let t = parse_csv("a,b,c\n1,2,0\n3,4,1\n", true).unwrap();
        assert_eq!((t.rows, t.cols), (2, 3));
        assert_eq!(
            t.columns_f32(0..2).unwrap().as_f32().unwrap(),
            &[1.0, 2.0, 3.0, 4.0]
        );
        assert_eq!(t.column_i64(2).unwrap().as_i64().unwrap(), &[0, 1]);
        let (train, test) = train_test_split(10, 3, 1).unwrap();
        assert_eq!((train.len(), test.len()), (7, 3));
    }
}
