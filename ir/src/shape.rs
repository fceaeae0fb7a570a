//! Shapes: ranks 0 to [`MAX_RANK`], element counts that are known to fit in memory, and
//! NumPy/PyTorch broadcasting.

use crate::error::{IrError, Result};
use smallvec::SmallVec;
use std::fmt;

/// The largest rank a tensor may have.
pub const MAX_RANK: usize = 8;

/// Dimensions of a tensor, outermost first. Row-major ("C") layout is implied for contiguous data.
///
/// Invariant (checked by [`Shape::new`]): rank <= [`MAX_RANK`] and the element count times 8 bytes
/// fits in an `isize`, so `numel()` and byte sizes never overflow.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(SmallVec<[usize; 4]>);

/// A list of axes (or any small per-axis list).
pub type AxisList = SmallVec<[usize; 4]>;

impl Shape {
    /// Builds a shape, checking the rank and that the element count fits in memory.
    pub fn new(dims: &[usize]) -> Result<Shape> {
        if dims.len() > MAX_RANK {
            return Err(IrError::Rank { rank: dims.len() });
        }
        let mut n: usize = 1;
        for &d in dims {
            n = n.checked_mul(d).ok_or_else(|| IrError::TooLarge {
                dims: dims.to_vec(),
            })?;
        }
        if n.checked_mul(8).is_none_or(|b| b > isize::MAX as usize) {
            return Err(IrError::TooLarge {
                dims: dims.to_vec(),
            });
        }
        Ok(Shape(dims.iter().copied().collect()))
    }

    /// The rank-0 shape of a scalar.
    pub fn scalar() -> Shape {
        Shape(SmallVec::new())
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Number of elements (1 for a scalar, 0 if any dimension is 0).
    pub fn numel(&self) -> usize {
        // Cannot overflow: checked in `Shape::new`.
        self.0.iter().product()
    }

    /// Row-major strides in elements.
    pub fn strides(&self) -> AxisList {
        let mut strides: AxisList = SmallVec::from_elem(0, self.rank());
        let mut acc = 1;
        for i in (0..self.rank()).rev() {
            strides[i] = acc;
            acc *= self.0[i];
        }
        strides
    }

    /// Dimension `axis` (which must be in range).
    pub fn dim(&self, axis: usize) -> usize {
        self.0[axis]
    }

    /// Resolves a possibly negative axis (`-1` is the last) against this shape's rank.
    pub fn axis(&self, op: &'static str, axis: isize) -> Result<usize> {
        normalize_axis(op, axis, self.rank())
    }

    /// The shape both operands broadcast to (NumPy rules: align trailing axes; a 1 stretches).
    pub fn broadcast(op: &'static str, a: &Shape, b: &Shape) -> Result<Shape> {
        let rank = a.rank().max(b.rank());
        let mut dims = vec![0; rank];
        for (i, out) in dims.iter_mut().enumerate() {
            let da = dim_from_right(a, rank - 1 - i);
            let db = dim_from_right(b, rank - 1 - i);
            *out = match (da, db) {
                (x, y) if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                _ => {
                    return Err(IrError::Broadcast {
                        op,
                        lhs: a.clone(),
                        rhs: b.clone(),
                    })
                }
            };
        }
        Shape::new(&dims)
    }

    /// The shape with dimension `axis` replaced.
    pub fn with_dim(&self, axis: usize, size: usize) -> Result<Shape> {
        let mut dims = self.0.to_vec();
        dims[axis] = size;
        Shape::new(&dims)
    }

    /// Formats as `2x3` (PyTorch's style in matmul errors).
    pub fn x_separated(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|d| d.to_string()).collect();
        parts.join("x")
    }
}

/// Dimension `k` counted from the right, 1 where the shape is too short (broadcasting's padding).
fn dim_from_right(s: &Shape, k: usize) -> usize {
    if k < s.rank() {
        s.0[s.rank() - 1 - k]
    } else {
        1
    }
}

/// Resolves a possibly negative axis against `rank`; `-1` is the last axis.
pub fn normalize_axis(op: &'static str, axis: isize, rank: usize) -> Result<usize> {
    let r = rank as isize;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(IrError::Axis { op, axis, rank });
    }
    Ok(a as usize)
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(d: &[usize]) -> Shape {
        Shape::new(d).unwrap()
    }

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(
            Shape::broadcast("add", &s(&[3, 1]), &s(&[4])).unwrap(),
            s(&[3, 4])
        );
        assert_eq!(
            Shape::broadcast("add", &s(&[]), &s(&[2, 5])).unwrap(),
            s(&[2, 5])
        );
        assert_eq!(
            Shape::broadcast("add", &s(&[0, 1]), &s(&[1, 3])).unwrap(),
            s(&[0, 3])
        );
        let err = Shape::broadcast("add", &s(&[3, 2]), &s(&[4])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "add: shapes [3,2] and [4] cannot be broadcast together"
        );
    }

    #[test]
    fn rank_and_size_limits() {
        assert!(matches!(
            Shape::new(&[1; 9]),
            Err(IrError::Rank { rank: 9 })
        ));
        assert!(matches!(
            Shape::new(&[usize::MAX, 2]),
            Err(IrError::TooLarge { .. })
        ));
        assert!(matches!(
            Shape::new(&[1 << 40, 1 << 30]),
            Err(IrError::TooLarge { .. })
        ));
        assert_eq!(s(&[]).numel(), 1);
        assert_eq!(s(&[3, 0]).numel(), 0);
    }

    #[test]
    fn axes_and_strides() {
        assert_eq!(normalize_axis("sum", -1, 3).unwrap(), 2);
        assert!(normalize_axis("sum", 3, 3).is_err());
        assert!(normalize_axis("sum", -4, 3).is_err());
        assert_eq!(s(&[2, 3, 4]).strides().as_slice(), &[12, 4, 1]);
    }
}
