//! Strided indexing: multi-indices over a shape in row-major order and their element offsets.
//! Every view op of the interpreter is a map from output multi-indices to operand offsets.

use crate::shape::AxisList;

/// Every multi-index of a shape in row-major order (the last axis varies fastest). A rank-0
/// shape has one (empty) index; a shape with a 0 dimension has none.
pub(super) struct MultiIndex {
    dims: AxisList,
    next: Option<AxisList>,
}

impl MultiIndex {
    /// The multi-indices of `dims`.
    pub(super) fn new(dims: &[usize]) -> MultiIndex {
        let next = if dims.contains(&0) {
            None
        } else {
            Some(AxisList::from_elem(0, dims.len()))
        };
        MultiIndex {
            dims: dims.iter().copied().collect(),
            next,
        }
    }
}

impl Iterator for MultiIndex {
    type Item = AxisList;

    fn next(&mut self) -> Option<AxisList> {
        let current = self.next.take()?;
        // Odometer increment: bump the last axis, carrying into earlier ones.
        let mut following = current.clone();
        for axis in (0..self.dims.len()).rev() {
            following[axis] += 1;
            if following[axis] < self.dims[axis] {
                self.next = Some(following);
                break;
            }
            following[axis] = 0;
        }
        Some(current)
    }
}

/// The element offset of multi-index `idx` under `strides`: `sum idx[d] * strides[d]`.
pub(super) fn offset(idx: &[usize], strides: &[usize]) -> usize {
    idx.iter().zip(strides).map(|(i, s)| i * s).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(dims: &[usize]) -> Vec<Vec<usize>> {
        MultiIndex::new(dims).map(|i| i.to_vec()).collect()
    }

    #[test]
    fn row_major_order() {
        assert_eq!(
            all(&[2, 3]),
            vec![
                vec![0, 0],
                vec![0, 1],
                vec![0, 2],
                vec![1, 0],
                vec![1, 1],
                vec![1, 2]
            ]
        );
        assert_eq!(all(&[]), vec![Vec::<usize>::new()]);
        assert!(all(&[2, 0, 3]).is_empty());
        assert_eq!(all(&[1, 1, 2]).len(), 2);
    }

    #[test]
    fn offsets_follow_strides() {
        assert_eq!(offset(&[1, 2, 3], &[12, 4, 1]), 23);
        assert_eq!(offset(&[], &[]), 0);
        assert!(MultiIndex::new(&[2, 3, 4])
            .enumerate()
            .all(|(n, idx)| offset(&idx, &[12, 4, 1]) == n));
    }
}
