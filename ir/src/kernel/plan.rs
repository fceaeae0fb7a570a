//! Memory planning: every temporary buffer gets a byte offset in one arena.
//!
//! Liveness is counted in kernels: a buffer is live from the first kernel that touches it (its
//! writer) to the last one (its last reader), both inclusive, so a kernel's inputs and output
//! never share bytes (no kernel has to be safe in place). Temporaries are placed largest first
//! (ties by id), each at the lowest offset, aligned to [`ALIGN`] bytes, where it overlaps no
//! already placed temporary whose live range intersects its own (first fit over the gaps).
//!
//! Guarantees: two temporaries with intersecting live ranges never share a byte; every offset is
//! a multiple of [`ALIGN`]; `peak_bytes` (the arena size) is at most the sum of the temporaries'
//! sizes rounded up to [`ALIGN`]. Inputs, parameters, constants and outputs have storage of
//! their own and are not in the arena (parameters are updated in place by the executable).

use super::{BufferKind, Program};

/// Alignment of every arena offset, in bytes (a cache line; enough for any vector load).
pub const ALIGN: usize = 64;

/// Where the temporaries live.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Per buffer: its arena byte offset, for temporaries only.
    pub offsets: Vec<Option<usize>>,
    /// Per buffer: the first and last kernel index touching it (`None` if no kernel does).
    pub live: Vec<Option<(usize, usize)>>,
    /// The arena's size in bytes.
    pub peak_bytes: usize,
}

fn align_up(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// Per buffer, the first and last kernel that reads or writes it (`None`: no kernel does).
pub(super) fn live_ranges(program: &Program) -> Vec<Option<(usize, usize)>> {
    let mut live: Vec<Option<(usize, usize)>> = vec![None; program.buffers.len()];
    for (k, kernel) in program.kernels.iter().enumerate() {
        let mut touched = kernel.reads();
        touched.push(kernel.out());
        for b in touched {
            let r = &mut live[b.index()];
            *r = Some(match *r {
                None => (k, k),
                Some((s, e)) => (s.min(k), e.max(k)),
            });
        }
    }
    live
}

/// Computes the live ranges and arena offsets of `program`'s temporaries.
pub fn plan_memory(program: &Program) -> MemoryPlan {
    let n = program.buffers.len();
    let live = live_ranges(program);
    let mut temps: Vec<usize> = (0..n)
        .filter(|&i| program.buffers[i].kind == BufferKind::Temp)
        .collect();
    temps.sort_by_key(|&i| (std::cmp::Reverse(program.buffers[i].bytes()), i));
    let mut offsets: Vec<Option<usize>> = vec![None; n];
    let mut placed: Vec<(usize, usize, (usize, usize))> = Vec::new();
    let mut peak = 0;
    for i in temps {
        let size = program.buffers[i].bytes();
        // A temporary no kernel touches (not produced by lowering) still gets a slot.
        let range = live[i].unwrap_or((0, 0));
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|(_, _, r)| r.0 <= range.1 && range.0 <= r.1)
            .map(|&(o, s, _)| (o, s))
            .collect();
        busy.sort_unstable();
        let mut at = 0;
        for (o, s) in busy {
            if s == 0 {
                continue;
            }
            if at + size <= o {
                break;
            }
            at = at.max(align_up(o + s));
        }
        offsets[i] = Some(at);
        placed.push((at, size, range));
        peak = peak.max(at + size);
    }
    MemoryPlan {
        offsets,
        live,
        peak_bytes: peak,
    }
}
