# SPDX-License-Identifier: ISC
"""Time one pass of a Python way of reading FILE (or stdin) in-process,
without the interpreter's start: prints the seconds.  Used by 40-numpy.sh.

  pyread.py fromfile FILE        np.fromfile, no checks
  pyread.py fromfile-crc FILE    np.fromfile, then zlib.crc32 over it
  pyread.py flt FILE|-           examples/python/flt.py read_records
"""
import os, sys, time, zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "examples", "python"))
import numpy as np  # noqa: E402
import flt  # noqa: E402

mode, path = sys.argv[1:3]
t0 = time.perf_counter()
if mode == "fromfile":
    n = np.fromfile(path, np.uint8).size
elif mode == "fromfile-crc":
    n = zlib.crc32(np.fromfile(path, np.uint8))
else:
    with open(path if path != "-" else os.dup(0), "rb") as f:
        n = sum(len(t) for _, t in flt.read_records(f))
print(f"{time.perf_counter() - t0:.6f}")
