//! Canonical loop spaces: drops size-1 axes and merges adjacent axes that every affine map
//! walks contiguously, so that `[n, 3]` or `[n, 1]` become one long (vectorisable) axis.
//!
//! Guarantee: the rewritten kernel computes exactly the same values at the same output
//! positions. An axis of size 1 has coordinate 0, so its coefficients never matter; axes `k`
//! and `k + 1` of the same class (both kept or both reduced) merge when every affine that sees
//! them has `coef[k] == coef[k + 1] * dim[k + 1]` (then `c[k] * dim[k+1] + c[k+1]` is the
//! merged coordinate and every affine's value is unchanged); the output, row-major over the kept
//! axes, satisfies this by construction, and an epilogue's coefficients on reduced axes are
//! irrelevant (its reduced coordinates are 0). Bodies that use `Index` are left alone.

use kiln_ir::kernel::{Body, InstKind};

/// Applies `f` to every coefficient vector of `body` (views, in-range and random affines).
fn for_each_coefs(body: &mut Body, mut f: impl FnMut(&mut kiln_ir::kernel::Strides)) {
    for inst in &mut body.insts {
        match &mut inst.kind {
            InstKind::Load { view, .. } => f(&mut view.strides),
            InstKind::InRange { index, .. } | InstKind::Random { index, .. } => f(&mut index.coefs),
            InstKind::Const(_)
            | InstKind::Index(_)
            | InstKind::Unary(..)
            | InstKind::Binary(..)
            | InstKind::Select(..)
            | InstKind::Cast(_)
            | InstKind::Acc => {}
        }
    }
}

fn coefs_of(body: &Body) -> Vec<Vec<isize>> {
    let mut out = Vec::new();
    let mut b = body.clone();
    for_each_coefs(&mut b, |c| out.push(c.to_vec()));
    out
}

fn uses_index(body: &Body) -> bool {
    body.insts
        .iter()
        .any(|i| matches!(i.kind, InstKind::Index(_)))
}

/// A loop space after canonicalisation.
pub(super) struct Canon {
    /// New dims.
    pub dims: Vec<usize>,
    /// Per new axis: reduced.
    pub reduced: Vec<bool>,
    /// Rewritten bodies (the same order as given).
    pub bodies: Vec<Body>,
}

impl Canon {
    /// The reduced axes.
    pub fn axes(&self) -> Vec<usize> {
        (0..self.dims.len()).filter(|&k| self.reduced[k]).collect()
    }
}

/// Canonicalises `dims` with per-axis classes `reduced`; `full` bodies see every axis,
/// `kept_only` bodies (epilogues) only the kept ones. `None` when nothing changes or a body uses
/// `Index`.
pub(super) fn canonicalize(
    dims: &[usize],
    reduced: &[bool],
    full: &[&Body],
    kept_only: &[&Body],
) -> Option<Canon> {
    if dims.contains(&0) || full.iter().chain(kept_only).any(|b| uses_index(b)) {
        return None;
    }
    let full_coefs: Vec<Vec<isize>> = full.iter().flat_map(|b| coefs_of(b)).collect();
    let kept_coefs: Vec<Vec<isize>> = kept_only.iter().flat_map(|b| coefs_of(b)).collect();
    let mut dims = dims.to_vec();
    let mut reduced = reduced.to_vec();
    // Current position of each surviving original axis, highest first.
    let mut alive: Vec<usize> = (0..dims.len()).collect();
    let mut removed = Vec::new();
    let coef = |c: &Vec<isize>, k: usize| c.get(k).copied().unwrap_or(0);
    for k in (0..dims.len()).rev() {
        let pos = alive.iter().position(|&a| a == k)?;
        let next = alive.get(pos + 1).copied();
        if dims[k] == 1 {
            removed.push(k);
            alive.remove(pos);
            continue;
        }
        let Some(n) = next else { continue };
        if reduced[k] != reduced[n] {
            continue;
        }
        let dn = dims[n] as isize;
        let ok = full_coefs
            .iter()
            .chain(kept_coefs.iter().filter(|_| !reduced[k]))
            .all(|c| coef(c, k) == coef(c, n).wrapping_mul(dn));
        if ok {
            dims[n] *= dims[k];
            removed.push(k);
            alive.remove(pos);
        }
    }
    if removed.is_empty() {
        return None;
    }
    let keep = |v: &mut kiln_ir::kernel::Strides| {
        let mut i = 0;
        v.retain(|_| {
            let stay = !removed.contains(&i);
            i += 1;
            stay
        });
    };
    let bodies = full
        .iter()
        .chain(kept_only)
        .map(|b| {
            let mut b = (*b).clone();
            for_each_coefs(&mut b, keep);
            b
        })
        .collect();
    let new_dims = alive.iter().map(|&a| dims[a]).collect();
    reduced = alive.iter().map(|&a| reduced[a]).collect();
    Some(Canon {
        dims: new_dims,
        reduced,
        bodies,
    })
}
