//! Packing strided operand blocks into the micro-kernels' panel layouts, zero-padded to whole
//! micro-panels so that the kernels never need an edge case on the `m` or `n` side.

use super::micro::Element;

/// Packs the `mc x kc` block of `a` at `a` (element `(i, p)` at `a + i*rsa + p*csa`) into
/// `ceil(mc / MR)` micro-panels of `MR * kc` elements each: panel `q` holds `a[q*MR + r, p]` at
/// `q*MR*kc + p*MR + r`, and 0 for rows `q*MR + r >= mc`.
///
/// # Safety
/// Every `a + i*rsa + p*csa` with `i < mc, p < kc` must be readable, and `dst` valid for
/// `ceil(mc / MR) * MR * kc` writes, not overlapping `a`.
pub unsafe fn pack_a<T: Element>(
    mc: usize,
    kc: usize,
    a: *const T,
    rsa: isize,
    csa: isize,
    dst: *mut T,
) {
    let mr = T::MR;
    for (q, i0) in (0..mc).step_by(mr).enumerate() {
        let rows = mr.min(mc - i0);
        // SAFETY: panel q lies inside `dst` (q < ceil(mc / MR)).
        let d = unsafe { dst.add(q * mr * kc) };
        // SAFETY: row i0 < mc of the block.
        let src = unsafe { a.offset(i0 as isize * rsa) };
        if rows == mr && csa == 1 {
            // Row-major `a`: MR streams along p, one contiguous MR-group written per p.
            for p in 0..kc {
                for r in 0..mr {
                    // SAFETY: r < MR = rows, p < kc: inside the block and the panel.
                    unsafe { *d.add(p * mr + r) = *src.offset(r as isize * rsa + p as isize) };
                }
            }
        } else if rows == mr && rsa == 1 {
            // Column-major (transposed) `a`: each group of MR is contiguous in the source.
            for p in 0..kc {
                // SAFETY: as above; the MR source elements r < MR are contiguous.
                unsafe {
                    std::ptr::copy_nonoverlapping(src.offset(p as isize * csa), d.add(p * mr), mr)
                };
            }
        } else {
            for p in 0..kc {
                for r in 0..mr {
                    let v = if r < rows {
                        // SAFETY: r < rows, p < kc: inside the block.
                        unsafe { *src.offset(r as isize * rsa + p as isize * csa) }
                    } else {
                        T::ZERO
                    };
                    // SAFETY: inside the panel.
                    unsafe { *d.add(p * mr + r) = v };
                }
            }
        }
    }
}

/// Packs the `kc x nc` block of `b` at `b` (element `(p, j)` at `b + p*rsb + j*csb`) into
/// `ceil(nc / NR)` micro-panels of `NR * kc` elements each: panel `q` holds `b[p, q*NR + j]` at
/// `q*NR*kc + p*NR + j`, and 0 for columns `q*NR + j >= nc`.
///
/// # Safety
/// Every `b + p*rsb + j*csb` with `p < kc, j < nc` must be readable, and `dst` valid for
/// `ceil(nc / NR) * NR * kc` writes, not overlapping `b`.
pub unsafe fn pack_b<T: Element>(
    kc: usize,
    nc: usize,
    b: *const T,
    rsb: isize,
    csb: isize,
    dst: *mut T,
) {
    let nr = T::NR;
    for (q, j0) in (0..nc).step_by(nr).enumerate() {
        let cols = nr.min(nc - j0);
        // SAFETY: panel q lies inside `dst`.
        let d = unsafe { dst.add(q * nr * kc) };
        // SAFETY: column j0 < nc of the block.
        let src = unsafe { b.offset(j0 as isize * csb) };
        if cols == nr && csb == 1 {
            // Row-major `b`: each row's NR columns are contiguous.
            for p in 0..kc {
                // SAFETY: p < kc, j < NR = cols: inside the block and the panel.
                unsafe {
                    std::ptr::copy_nonoverlapping(src.offset(p as isize * rsb), d.add(p * nr), nr)
                };
            }
        } else if cols == nr && rsb == 1 {
            // Column-major (transposed) `b`: read each column contiguously along p.
            for j in 0..nr {
                for p in 0..kc {
                    // SAFETY: as above.
                    unsafe { *d.add(p * nr + j) = *src.offset(j as isize * csb + p as isize) };
                }
            }
        } else {
            for p in 0..kc {
                for j in 0..nr {
                    let v = if j < cols {
                        // SAFETY: j < cols, p < kc: inside the block.
                        unsafe { *src.offset(p as isize * rsb + j as isize * csb) }
                    } else {
                        T::ZERO
                    };
                    // SAFETY: inside the panel.
                    unsafe { *d.add(p * nr + j) = v };
                }
            }
        }
    }
}
