#!/usr/bin/env python3
"""Compiles kiln's generated CUDA C with the real NVRTC (no GPU needed) to CUBINs.

Usage:
  KILN_CUDA_DUMP_DIR=/tmp/kiln-cu cargo test --release -p kiln-codegen --test cuda_host
  LD_LIBRARY_PATH=<venv>/site-packages/nvidia/cu13/lib \
      python3 codegen/tests/cuda_host/nvrtc_check.py /tmp/kiln-cu [sm_80 sm_90]

Every `.cu` file of the folder is one program (prelude + kernels). Programs are compiled in
batches: one translation unit holds the prelude once and each program's kernels renamed
`kiln_p<i>_k...`, compiled with the backend's flags (`--fmad=false`, no fast math) and
`--ptxas-options=-v`; the script fails on any compile error, warning or spill ptxas reports.
NVRTC comes from the `nvidia-cuda-nvrtc==13.0.88` wheel (see shared/TOOLCHAIN.md).
"""
import ctypes
import glob
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor

MARK = "// kiln CUDA prelude"


def load():
    try:
        return ctypes.CDLL("libnvrtc.so.13")
    except OSError as e:
        sys.exit(f"libnvrtc.so.13 not found ({e}): pip install nvidia-cuda-nvrtc==13.0.88 "
                 "and put its nvidia/cu13/lib on LD_LIBRARY_PATH")


NVRTC = load()


def check(rc, what):
    if rc != 0:
        NVRTC.nvrtcGetErrorString.restype = ctypes.c_char_p
        raise RuntimeError(f"{what}: {NVRTC.nvrtcGetErrorString(rc).decode()}")


def compile_unit(src, arch):
    prog = ctypes.c_void_p()
    check(NVRTC.nvrtcCreateProgram(ctypes.byref(prog), src.encode(), b"kiln.cu", 0, None, None),
          "create")
    opts = [f"--gpu-architecture={arch}".encode(), b"--fmad=false", b"--ptxas-options=-v"]
    arr = (ctypes.c_char_p * len(opts))(*opts)
    rc = NVRTC.nvrtcCompileProgram(prog, len(opts), arr)
    size = ctypes.c_size_t()
    NVRTC.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    NVRTC.nvrtcGetProgramLog(prog, log)
    cubin = 0
    if rc == 0:
        n = ctypes.c_size_t()
        check(NVRTC.nvrtcGetCUBINSize(prog, ctypes.byref(n)), "cubin size")
        cubin = n.value
    NVRTC.nvrtcDestroyProgram(ctypes.byref(prog))
    return rc, log.value.decode(errors="replace"), cubin


def main():
    folder = sys.argv[1]
    archs = sys.argv[2:] or ["sm_80", "sm_90"]
    files = sorted(glob.glob(os.path.join(folder, "*.cu")))
    if not files:
        sys.exit(f"no .cu files in {folder}")
    prelude, bodies = None, []
    for f in files:
        text = open(f).read()
        cut = text.index("\nextern") if "\nextern" in text else len(text)
        prelude = prelude or text[:cut]
        bodies.append(text[cut:])
    units = []
    batch = 80
    for start in range(0, len(bodies), batch):
        parts = [prelude]
        for i, b in enumerate(bodies[start:start + batch]):
            parts.append(b.replace("kiln_k", f"kiln_p{start + i}_k"))
        units.append("\n".join(parts))
    jobs = [(u, a) for u in units for a in archs]
    failures, kernels, spills, warnings = 0, 0, 0, 0
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for (unit, arch), (rc, log, cubin) in zip(jobs, pool.map(lambda j: compile_unit(*j), jobs)):
            kernels += len(re.findall(r"Compiling entry function", log))
            spilled = [l for l in log.splitlines()
                       if re.search(r"[1-9]\d* bytes spill (stores|loads)", l)]
            spills += len(spilled)
            warned = [l for l in log.splitlines() if "warning #" in l]
            warnings += len(warned)
            for l in warned[:5]:
                print(f"WARNING {arch}: {l.strip()}")
            if rc != 0 or cubin == 0:
                failures += 1
                print(f"FAIL {arch}: rc={rc}\n{log[:4000]}")
            for l in spilled[:5]:
                print(f"SPILL {arch}: {l.strip()}")
    print(f"nvrtc: {len(files)} programs in {len(units)} units x {archs}: "
          f"{kernels} kernel compiles, {failures} failed units, {spills} spill reports, "
          f"{warnings} warnings")
    sys.exit(1 if failures or spills or warnings else 0)


if __name__ == "__main__":
    main()
