#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""flt.py - read and write FLT v1 records (flt(5)) with numpy alone.

  flt.py show FILE...                      metadata and tensor shapes
  flt.py from-npy [-z] [--dtype T] [-m K=V]... OUT.flt [NAME=]FILE.npy...
  flt.py from-npz [-z] [--dtype T] [-m K=V]... OUT.flt IN.npz
  flt.py from-safetensors [-z] [--dtype T] [-m K=V]... OUT.flt IN.safetensors
  flt.py to-npz IN.flt OUT.npz [RECORD]    tensors of one record (1-based)
  flt.py to-safetensors IN.flt OUT.safetensors [RECORD]
  flt.py update -w WEIGHT [-z] [-m K=V]... MODEL.flt TRAINED OUT.flt

--dtype f32, f64, f16 or bf16 casts the float tensors (integers stay as
they are).  `update` writes the update record of a client that trained
MODEL.flt (a kind=model record) into TRAINED (.flt, .npz or .safetensors
with the same tensor names and shapes): kind=update, weight=WEIGHT (> 0,
e.g. the example count), the model's round, arch and other metadata as
fl-train copies them, and per float tensor the pseudo-gradient TRAINED -
MODEL that fl-apply adds (computed in f64, rounded to the model's dtype);
integer tensors (counters such as BatchNorm's num_batches_tracked) are
left out, and fl-apply keeps the model's.
to-safetensors writes the record's metadata as __metadata__.

FILE and IN.flt may be "-" for stdin, OUT.flt "-" for stdout.  Any error is
one line naming the file, exit status 1.  As a module:

  for meta, tensors in flt.read_records(f): ...     # f: a binary file
  flt.write_record(f, {"kind": "update"}, {"w": array}, compress=False)
  meta, delta = flt.update(model_meta, model_tensors, trained, weight=600)
  tensors = flt.from_state_dict(model.state_dict())  # numpy, torch dtypes
  model.load_state_dict(flt.to_state_dict(tensors, like=model.state_dict()))

(torch is imported only by from_state_dict/to_state_dict, and only there.)
The reader checks every rule that libfl checks and raises ValueError naming
the record and the problem; its arrays are read-only views of the payload.
The writer emits the same bytes as fl-pack (-z: compress=True).

f16 is numpy's float16.  numpy has no bfloat16: a bf16 tensor is an array of
flt.BF16, a 2-byte structured dtype holding the bits (a["bf16"] is them as
uint16), so bf16 goes through unchanged; flt.bf16_to_float32(a) widens it
(exactly), flt.float32_to_bf16(x) rounds floats to it (to nearest, ties to
even, as libfl).  safetensors F16 and BF16 tensors convert to f16 and bf16,
and back.
"""
import argparse, json, os, re, struct, sys, zipfile, zlib

try:
    import numpy as np
except ImportError:
    sys.exit("flt.py needs numpy (Debian: apt install python3-numpy)")

MAGIC = b"\x89FLT\r\n\x1a\n"
PREAMBLE = struct.Struct("<8sBBHIQII")
MAX_HEADER, MAX_VALUE, MAX_META, MAX_TENSORS, MAX_RANK = 1 << 20, 4096, 1024, 65536, 8
MAX_PAYLOAD = 4 << 30                           # raw bytes per record, as in fl.h
BF16 = np.dtype([("bf16", "<u2")])              # bfloat16, as its bits
DTYPES = {"f32": "<f4", "f64": "<f8", "i8": "i1", "u8": "u1", "i16": "<i2",
          "u16": "<u2", "i32": "<i4", "u32": "<u4", "i64": "<i8", "u64": "<u8",
          "f16": "<f2", "bf16": BF16}
BY_KIND = {(np.dtype(v).kind, np.dtype(v).itemsize): k for k, v in DTYPES.items()
           if k != "bf16"}
KEY = re.compile(rb"[a-z0-9][a-z0-9._-]{0,63}")
NAME = re.compile(rb"[A-Za-z0-9_.:/][A-Za-z0-9_.:/-]{0,254}")
DECIMAL = re.compile(rb"0|[1-9][0-9]{0,19}")    # canonical: no sign, no leading 0
HINTS = {b"\x1f\x8b": "gzip data", b"\x28\xb5\x2f\xfd": "zstd data",
         b"\x93NUMPY": "a .npy file (use: flt.py from-npy)",
         b"PK\x03\x04": "a zip archive (a .npz file? use: flt.py from-npz)"}


def align64(n):
    return (n + 63) & ~63


def dtype_name(dt):
    """The FLT dtype of a numpy dtype, or None."""
    return "bf16" if dt == BF16 else BY_KIND.get((dt.kind, dt.itemsize))


def bf16_to_float32(a):
    """bf16 values (an array of BF16) as float32: exact."""
    return (np.asarray(a, BF16)["bf16"].astype("<u4") << 16).view("<f4")


def float32_to_bf16(x):
    """Floats rounded to bf16 (to nearest, ties to even; NaN stays NaN)."""
    u = np.asarray(x, "<f4").view("<u4").astype(np.uint64)
    h, top = (u + 0x7fff + ((u >> 16) & 1)) >> 16, u >> 16
    nan = (u & 0x7fffffff) > 0x7f800000         # keep sign and top payload bits
    h = np.where(nan, top | np.where(top & 0x7f, 0, 0x40).astype(np.uint64), h)
    return h.astype("<u2").view(BF16)


def _check(*rules):
    """Raise ValueError with the message of the first (broken, message) rule."""
    for broken, message in rules:
        if broken:
            raise ValueError(message)


def _text(b):
    """Bytes for an error message."""
    return repr(b.decode("utf-8", "replace"))


def _check_meta(key, value):
    k = _text(key[:64])
    _check((not KEY.fullmatch(key) or key == b"tensor",
            f"bad metadata key {k}: want [a-z0-9][a-z0-9._-]{{0,63}}, not 'tensor'"),
           (len(value) > MAX_VALUE, f"metadata {k}: value longer than {MAX_VALUE} bytes"),
           (value[:1] == b" " or value[-1:] == b" ", f"metadata {k}: leading or trailing space"),
           (any(c < 0x20 or c == 0x7f for c in value), f"metadata {k}: control character"))
    return value.decode("utf-8")                # strict: any invalid UTF-8 raises


def _check_name(name):
    _check((not NAME.fullmatch(name), f"bad tensor name {_text(name[:255])}: want 1-255 of "
            "A-Z a-z 0-9 _ . : / -, not starting with '-'"))
    return name.decode()


def _parse_header(text, max_payload):
    """Header bytes -> (meta, [(name, dtype, shape, offset, nbytes)], raw length)."""
    body = text[:-1].rstrip(b" ")
    spaces = len(text) - 1 - len(body)          # the fewest that align, as written
    _check((not text.endswith(b"\n"), "header does not end with a newline"),
           (body and not body.endswith(b"\n"), "header does not end with a line of spaces"),
           (spaces >= 64, f"header padding of {spaces} spaces (at most 63)"))
    meta, table, end = {}, [], 0
    for line in body.split(b"\n")[:-1]:
        _check((not line, "blank line in header"), (len(line) > 64 + 1 + MAX_VALUE,
               "header line too long"), (b"\r" in line, "carriage return in header"),
               (b"=" not in line, f"header line without '=': {_text(line[:40])}"))
        key, _, val = line.partition(b"=")
        if key != b"tensor":
            val = _check_meta(key, val)
            _check((table, f"metadata line {_text(key)} after the tensor lines"),
                   (meta and next(reversed(meta)).encode() >= key,
                    f"metadata key {_text(key)} duplicated or out of order"),
                   (len(meta) == MAX_META, f"more than {MAX_META} metadata keys"))
            meta[key.decode()] = val
            continue
        fields = val.split(b" ")
        _check((len(fields) != 4,
                f"bad tensor line {_text(line[:80])}: want NAME DTYPE [DIMS] OFFSET"))
        name, dtype, dims, off = fields
        name = _check_name(name)
        _check((dtype.decode("latin-1") not in DTYPES, f"tensor {name!r}: unsupported dtype "
                f"{_text(dtype[:16])}"))
        dt, dims = np.dtype(DTYPES[dtype.decode()]), dims[1:-1].split(b",")
        _check((fields[2][:1] != b"[" or fields[2][-1:] != b"]", f"tensor {name!r}: bad shape"),
               (len(dims) > MAX_RANK, f"tensor {name!r}: rank above {MAX_RANK}"))
        shape = () if fields[2] == b"[]" else dims
        _check((not all(DECIMAL.fullmatch(d) and int(d) >> 64 == 0 for d in shape),
                f"tensor {name!r}: bad shape {_text(fields[2][:40])}"))
        shape, nonzero = tuple(int(d) for d in shape), 1
        for d in shape:                         # the nonzero product must fit, as in C
            nonzero *= d or 1
            _check((nonzero >> 64, f"tensor {name!r}: too many elements"))
        numel = 0 if 0 in shape else nonzero
        nbytes = numel * dt.itemsize
        _check((not DECIMAL.fullmatch(off), f"tensor {name!r}: bad offset {_text(off[:24])}"))
        _check((int(off) != end, f"tensor {name!r}: offset {int(off)}, expected {end} "
                "(tensors must tile the payload at 64-byte boundaries)"),
               (align64(end + nbytes) > max_payload,
                f"tensor {name!r}: payload above the limit of {max_payload} bytes"),
               (len(table) == MAX_TENSORS, f"more than {MAX_TENSORS} tensors"),
               (any(t[0] == name for t in table), f"duplicate tensor name {name!r}"))
        table.append((name, dt, shape, end, nbytes))
        end = align64(end + nbytes)
    return meta, table, end


def _read(f, n, what, b=b""):
    while len(b) < n:                           # raw files and pipes may read short
        more = f.read(n - len(b))
        _check((not more, f"truncated record: {what} has {len(b)} of {n} bytes"))
        b = more if not b else b + more
    return b


def _inflate(stored, rawlen):
    d = zlib.decompressobj()
    try:
        raw = d.decompress(stored, rawlen + 1)  # one byte more than needed shows a bomb
    except zlib.error as e:
        raise ValueError(f"corrupt compressed payload: {e}") from None
    _check((len(raw) > rawlen, f"compressed payload inflates to more than {rawlen} bytes"),
           (not d.eof, "corrupt compressed payload: stream ends early"),
           (len(raw) != rawlen, f"compressed payload inflates to {len(raw)} bytes, "
            f"the tensors need {rawlen}"),
           (len(d.unused_data) > 63 or d.unused_data.strip(b"\0"),
            "more than 63 bytes or non-zero bytes after the compressed stream"))
    return raw


def read_record(f, max_payload=MAX_PAYLOAD):
    """Read one record from f: (meta, tensors), or None at a clean end of stream."""
    pre = f.read(32)
    if not pre:
        return None
    while len(pre) < 32 and (more := f.read(32 - len(pre))):
        pre += more
    hint = [h for m, h in HINTS.items() if pre.startswith(m)]
    if pre[8:9] == b"{" and struct.unpack("<Q", pre[:8])[0] >> 32 == 0:
        hint = ["a safetensors file (use: flt.py from-safetensors)"]
    _check((not MAGIC.startswith(pre[:8]), f"not an FLT record: input is {hint[0]}"
            if hint else "not an FLT record (bad magic)"),
           (len(pre) < 32, f"truncated record: preamble has {len(pre)} of 32 bytes"))
    _, version, flags, reserved, hlen, plen, pcrc, hcrc = PREAMBLE.unpack(pre)
    _check((version != 1, f"unsupported format version {version}"),
           (flags & ~1, f"unknown flags 0x{flags:02x}"),
           (reserved, "reserved preamble bytes are not zero"),
           (hlen > MAX_HEADER, f"header length {hlen} above the limit of {MAX_HEADER}"),
           ((32 + hlen) % 64, f"header length {hlen} does not end on a 64-byte boundary"),
           (plen % 64, f"payload length {plen} is not a multiple of 64"))
    text = _read(f, hlen, "header")
    crc = zlib.crc32(text, zlib.crc32(pre[:28]))
    _check((crc != hcrc, f"header checksum mismatch (stored {hcrc:08x}, computed {crc:08x})"))
    meta, table, rawlen = _parse_header(text, max_payload)
    bound = align64(rawlen + (rawlen >> 12) + (rawlen >> 14) + (rawlen >> 25) + 13)
    _check((not flags and plen != rawlen, f"payload length {plen}, the tensors need {rawlen}"),
           (flags and not (0 < plen <= bound and plen >= rawlen // 1032),  # deflate: <= 1032:1
            f"compressed payload length {plen} impossible for {rawlen} raw bytes"))
    stored = _read(f, plen, "payload")
    crc = zlib.crc32(stored)
    _check((crc != pcrc, f"payload checksum mismatch (stored {pcrc:08x}, computed {crc:08x})"))
    raw, tensors = _inflate(stored, rawlen) if flags else stored, {}
    for i, (name, dt, shape, off, nbytes) in enumerate(table):
        stop = table[i + 1][3] if i + 1 < len(table) else rawlen
        _check((raw[off + nbytes:stop].strip(b"\0"), f"non-zero padding after tensor {name!r}"))
        tensors[name] = np.frombuffer(raw, dt, nbytes // dt.itemsize, off).reshape(shape)
    return meta, tensors


def read_records(f, max_payload=MAX_PAYLOAD):
    """Yield (meta: dict[str, str], tensors: dict[str, ndarray]) per record of f."""
    n = 1
    while True:
        try:
            rec = read_record(f, max_payload)
        except ValueError as e:
            raise ValueError(f"record {n}: {e}") from None
        if rec is None:
            return
        yield rec
        n += 1


def write_record(f, meta, tensors, compress=False):
    """Write one record; metadata values go through str(), tensors keep dict order."""
    lines, parts, end = [], [], 0
    for key in sorted(meta, key=str.encode):
        value = str(meta[key])
        _check_meta(key.encode(), value.encode())
        lines.append(f"{key}={value}\n")
    for name, a in tensors.items():
        _check_name(name.encode())
        a = np.asarray(a)
        dtype = dtype_name(a.dtype)
        _check((dtype is None or a.ndim > MAX_RANK, f"tensor {name!r}: {a.dtype} of rank "
                f"{a.ndim} has no FLT dtype (want {' '.join(DTYPES)}, rank <= {MAX_RANK})"))
        data = np.ascontiguousarray(a, DTYPES[dtype]).reshape(-1).view(np.uint8)
        lines.append(f"tensor={name} {dtype} [{','.join(map(str, a.shape))}] {end}\n")
        parts.append((end, data))
        end = align64(end + data.size)
    text = "".join(lines).encode()
    header = text + b" " * (-(32 + len(text) + 1) % 64) + b"\n"
    _check((len(meta) > MAX_META or len(tensors) > MAX_TENSORS, "too many keys or tensors"),
           (len(header) > MAX_HEADER, f"header above the limit of {MAX_HEADER} bytes"))
    if compress:                                # zlib level 6, as fl-pack -z
        raw = np.zeros(end, np.uint8)
        for off, data in parts:
            raw[off:off + data.size] = data
        zdata = zlib.compress(raw, 6)
        parts, end = [(0, zdata)], align64(len(zdata))
    parts, pcrc, pos = parts + [(end, b"")], 0, 0
    for off, data in parts:
        pcrc, pos = zlib.crc32(data, zlib.crc32(bytes(off - pos), pcrc)), off + len(data)
    pre = PREAMBLE.pack(MAGIC, 1, int(bool(compress)), 0, len(header), end, pcrc, 0)[:28]
    f.write(pre + struct.pack("<I", zlib.crc32(header, zlib.crc32(pre))) + header)
    pos = 0
    for off, data in parts:
        f.write(bytes(off - pos))
        f.write(data)
        pos = off + len(data)


def read_safetensors(path, with_meta=False):
    """Tensors of a safetensors file in the order of its JSON header; with
    with_meta, (its __metadata__ or {}, tensors)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", _read(f, 8, "safetensors length"))
        _check((n > 100 << 20, f"not a safetensors file (header length {n})"))
        head = json.loads(_read(f, n, "safetensors header"))
    _check((not isinstance(head, dict), "safetensors header is not a JSON object"))
    meta = head.pop("__metadata__", None) or {}
    data = np.memmap(path, np.uint8, "r", 8 + n) if os.path.getsize(path) > 8 + n else b""
    out = {}
    for name, t in head.items():
        dtype = t["dtype"].lower()              # F32 -> f32, BF16 -> bf16 ...; BOOL: no
        _check((dtype not in DTYPES, f"tensor {name!r}: {t['dtype']} has no FLT dtype"))
        (b, e), size = t["data_offsets"], np.dtype(DTYPES[dtype]).itemsize
        _check((not 0 <= b <= e <= len(data) or e - b != size * int(np.prod(t["shape"])),
                f"tensor {name!r}: data_offsets [{b}, {e}] do not fit its shape"))
        out[name] = np.frombuffer(data[b:e], DTYPES[dtype]).reshape(t["shape"])
    return (meta, out) if with_meta else out


def write_safetensors(f, tensors, meta=None):
    """Write tensors (and meta, str -> str, as __metadata__) to the binary file
    f in the safetensors format: an 8-byte little-endian header length, the
    JSON header (padded with spaces to 8 bytes), the raw little-endian data
    with no holes.  The header lists the tensors in dict order; the data
    holds them by falling element size (in dict order within a size), as
    the safetensors library does, so that each is aligned to its size."""
    head, parts, end = {}, [], 0
    if meta:
        head["__metadata__"] = {str(k): str(v) for k, v in meta.items()}
    for name, a in tensors.items():
        a = np.asarray(a)
        dtype = dtype_name(a.dtype)
        _check((dtype is None, f"tensor {name!r}: {a.dtype} has no safetensors dtype"),
               (name == "__metadata__", "a tensor named '__metadata__'"))
        head[name] = {"dtype": dtype.upper(), "shape": list(a.shape)}
        parts.append((-a.dtype.itemsize, len(parts), name, a, dtype))
    parts.sort(key=lambda p: p[:2])
    for i, (_, _, name, a, dtype) in enumerate(parts):
        data = np.ascontiguousarray(a, DTYPES[dtype]).reshape(-1).view(np.uint8)
        head[name]["data_offsets"] = [end, end + data.size]
        parts[i], end = data, end + data.size
    text = json.dumps(head, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    f.write(struct.pack("<Q", len(text)) + text)
    for data in parts:
        f.write(data.tobytes())


FLOATS = ("f32", "f64", "f16", "bf16")
# Metadata of the model that an update does not take (nor dp.*, q.*,
# ledger.*), as fl-train: it describes one record.
RECORD_SPECIFIC = ("client", "clients", "kind", "loss", "weight", "modulus")


def as_float64(a):
    """A float tensor (f16, bf16, f32, f64) as float64, exactly."""
    a = np.asarray(a)
    return (bf16_to_float32(a) if a.dtype == BF16 else a).astype("<f8")


def cast(tensors, dtype):
    """The float tensors cast to dtype (f32, f64, f16 or bf16, rounded to
    nearest); integer tensors unchanged.  A finite value beyond the range of
    dtype is an error."""
    _check((dtype not in FLOATS, f"cannot cast to {dtype!r} (want {', '.join(FLOATS)})"))
    out = {}
    for name, a in tensors.items():
        a = np.asarray(a)
        if dtype_name(a.dtype) not in FLOATS or dtype_name(a.dtype) == dtype:
            out[name] = a
            continue
        x = as_float64(a)
        with np.errstate(over="ignore"):
            y = float32_to_bf16(x) if dtype == "bf16" else x.astype(DTYPES[dtype])
        _check((np.any(np.isfinite(x) & ~np.isfinite(as_float64(y))),
                f"tensor {name!r}: values beyond the range of {dtype}"))
        out[name] = y
    return out


def check_tensors(tensors):
    """Raise ValueError if a tensor has no FLT dtype or name."""
    for name, a in tensors.items():
        _check_name(str(name).encode())
        a = np.asarray(a)
        _check((dtype_name(a.dtype) is None or a.ndim > MAX_RANK, f"tensor {name!r}: "
                f"{a.dtype} of rank {a.ndim} has no FLT dtype (want {' '.join(DTYPES)}, "
                f"rank <= {MAX_RANK})"))
    return tensors


def update(model_meta, model, trained, weight, meta=None):
    """The update record (meta, tensors) of a client that trained the global
    model (model_meta, model: a kind=model record) into trained (name ->
    array, e.g. from_state_dict(...)[1]): kind=update, weight (> 0), the
    model's metadata as fl-train copies it (round, arch, ...: not client,
    clients, loss, weight, modulus, dp.*, q.*, ledger.*), meta added; per float tensor of the model, trained -
    model (the pseudo-gradient fl-apply adds), in the model's dtype.  Integer
    tensors are left out (fl-apply keeps the model's)."""
    _check((model_meta.get("kind", "model") != "model",
            f"not a model record (kind={model_meta.get('kind')})"))
    try:
        w = float(weight)
    except (TypeError, ValueError):
        w = float("nan")
    _check((not w > 0 or w == float("inf"), f"weight {weight!r}: want a number > 0"))
    extra = [n for n in trained if n not in model]
    _check((extra, f"tensor {extra[0]!r} is not in the model" if extra else ""))
    out = {}
    for name, g in model.items():
        dt = dtype_name(np.asarray(g).dtype)
        if dt not in FLOATS:
            continue
        _check((name not in trained, f"tensor {name!r} of the model is missing"))
        t = np.asarray(trained[name])
        _check((t.shape != g.shape, f"tensor {name!r}: shape {list(t.shape)}, the model's "
                f"is {list(g.shape)}"),
               (dtype_name(t.dtype) not in FLOATS, f"tensor {name!r}: {t.dtype}, the "
                f"model's is {dt}"))
        with np.errstate(over="ignore", invalid="ignore"):
            out[name] = cast({name: as_float64(t) - as_float64(g)}, dt)[name]
    m = {k: v for k, v in model_meta.items() if k not in RECORD_SPECIFIC and
         not k.startswith(("dp.", "q.", "ledger."))}
    m.update(meta or {})
    m.update(kind="update", weight=weight)
    return m, out


def _torch():
    try:
        import torch                            # only here: numpy alone otherwise
    except ImportError:
        raise ValueError("this needs PyTorch (Debian: apt install python3-torch)") from None
    return torch


def from_state_dict(sd, meta=None, dtype=None):
    """A record (meta, tensors) of a PyTorch state_dict: copies as numpy
    arrays (bf16 as flt.BF16), optionally float tensors cast to dtype."""
    torch, out = _torch(), {}
    for name, t in sd.items():
        t = t.detach().cpu().contiguous().clone()
        if t.dtype == torch.bfloat16:
            a = t.view(torch.int16).numpy().view("<u2").view(BF16)
        else:
            _check((t.dtype in (torch.bool, torch.complex64, torch.complex128) or
                    t.is_quantized, f"tensor {name!r}: {t.dtype} has no FLT dtype"))
            a = t.numpy()
        out[name] = a
    check_tensors(out)
    return dict(meta or {}), cast(out, dtype) if dtype else out


def to_state_dict(tensors, like=None):
    """A state_dict (name -> torch tensor, new memory) of tensors; with like
    (a model's state_dict), the names must be like's, the shapes too, and
    float tensors are cast to like's dtypes, so load_state_dict takes it."""
    torch, out = _torch(), {}
    names = list(like) if like is not None else list(tensors)
    if like is not None:
        missing = [n for n in like if n not in tensors]
        extra = [n for n in tensors if n not in like]
        _check((missing, f"tensor {missing[0]!r} of the model is missing" if missing else ""),
               (extra, f"tensor {extra[0]!r} is not in the model" if extra else ""))
    for name in names:
        a = np.asarray(tensors[name])
        dt = dtype_name(a.dtype)
        want = like[name].dtype if like is not None else None
        if like is not None:
            _check((tuple(a.shape) != tuple(like[name].shape),
                    f"tensor {name!r}: shape {list(a.shape)}, the model's is "
                    f"{list(like[name].shape)}"),
                   ((dt in FLOATS) != want.is_floating_point,
                    f"tensor {name!r}: {dt}, the model's is {want}"))
        if dt == "bf16":
            t = torch.from_numpy(np.array(a["bf16"]).view(np.int16)).view(torch.bfloat16)
        else:
            _check((dt in ("u16", "u32", "u64"), f"tensor {name!r}: PyTorch has no {dt}"))
            t = torch.from_numpy(np.array(a))
        out[name] = t.to(want) if want is not None else t
    return out


def write_file(path, records, compress=False, writer=None):
    """Write records to path atomically (a temporary file renamed); "-" is
    stdout.  writer(f, records) instead of FLT records: another format."""
    def flt(f, records):
        for meta, tensors in records:
            write_record(f, meta, tensors, compress)
    writer = writer or flt
    if path == "-":
        writer(sys.stdout.buffer, records)
        return sys.stdout.buffer.flush()
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            writer(f, records)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _open(path):
    return open(path if path != "-" else os.dup(0), "rb")


class _About:
    """with _About(path): any error inside is a ValueError naming path."""
    def __init__(self, path):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, kind, e, tb):
        if kind is None or not issubclass(kind, Exception):
            return False
        what = e.strerror if isinstance(e, OSError) and e.strerror else e
        raise ValueError(f"{self.path}: {what}") from None


def load_records(path):
    """All records of an FLT file ("-": stdin)."""
    with _About(path), _open(path) as f:
        return list(read_records(f))


def load_tensors(path, kind=None):
    """(meta, tensors) of a .npz, .safetensors or one-record FLT file (kind
    "npz", "safetensors" or "flt", or else by the name's ending)."""
    kind = kind or os.path.splitext(path)[1][1:]
    with _About(path):
        if kind == "npz":
            return {}, check_tensors(dict(np.load(path, allow_pickle=False)))
        if kind == "safetensors":
            return read_safetensors(path, with_meta=True)
        with _open(path) as f:
            records = list(read_records(f))
        _check((len(records) != 1, f"has {len(records)} records, want 1"))
        return records[0]


def _pick(path, records, n):
    n = n if n is not None else 1 if len(records) == 1 else 0
    _check((not 0 < n <= len(records),
            f"{path} has {len(records)} records: name one (1-based)"))
    return records[n - 1]


def main(argv):
    p = argparse.ArgumentParser(prog="flt.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("show").add_argument("files", nargs="+")
    for cmd in "from-npy", "from-npz", "from-safetensors", "update":
        s = sub.add_parser(cmd)
        s.add_argument("-z", "--zlib", action="store_true", help="compress the payload")
        s.add_argument("-m", "--meta", action="append", default=[], metavar="KEY=VALUE")
        if cmd == "update":
            s.add_argument("-w", "--weight", required=True,
                           help="the update's weight (> 0), e.g. its example count")
            s.add_argument("model")
            s.add_argument("trained")
            s.add_argument("out")
            continue
        s.add_argument("--dtype", choices=FLOATS, help="cast the float tensors")
        s.add_argument("out")
        s.add_argument("inputs", nargs="+" if cmd == "from-npy" else 1)
    for cmd in "to-npz", "to-safetensors":
        s = sub.add_parser(cmd)
        s.add_argument("input")
        s.add_argument("out")
        s.add_argument("record", nargs="?", type=int)
    a = p.parse_args(argv)
    if not all("=" in m for m in getattr(a, "meta", [])):
        p.error("-m wants KEY=VALUE")
    meta = dict(m.partition("=")[::2] for m in getattr(a, "meta", []))
    if a.cmd == "update":
        try:
            update({}, {}, {}, a.weight)
        except ValueError as e:
            p.error(str(e))
    try:
        if a.cmd == "show":
            for path in a.files:
                for n, (m, tensors) in enumerate(load_records(path), 1):
                    print(f"{path}: record {n}")
                    print("".join(f"  {k}={v}\n" for k, v in m.items()), end="")
                    for k, v in tensors.items():
                        print(f"  tensor {k} {dtype_name(v.dtype)} "
                              f"[{','.join(map(str, v.shape))}]")
        elif a.cmd == "to-npz":
            _, tensors = _pick(a.input, load_records(a.input), a.record)
            with _About(a.out), zipfile.ZipFile(a.out, "w") as z:
                for name, t in tensors.items():
                    with z.open(name + ".npy", "w", force_zip64=True) as g:
                        np.lib.format.write_array(g, t, allow_pickle=False)
        elif a.cmd == "to-safetensors":
            rec = _pick(a.input, load_records(a.input), a.record)
            with _About(a.out):
                write_file(a.out, rec, writer=lambda f, r: write_safetensors(f, r[1], r[0]))
        elif a.cmd == "update":
            records = load_records(a.model)
            with _About(a.model):
                _check((len(records) != 1, f"has {len(records)} records, want 1"),
                       (records[0][0].get("kind", "model") != "model",
                        f"not a model record (kind={records[0][0].get('kind')})"))
            _, trained = load_tensors(a.trained)
            with _About(a.trained):
                rec = update(*records[0], trained, a.weight, meta)
            with _About(a.out):
                write_file(a.out, [rec], a.zlib)
        else:
            src = a.inputs[0] if a.cmd != "from-npy" else "-"
            tensors = {}
            if a.cmd == "from-npy":
                for arg in a.inputs:
                    name, eq, path = arg.partition("=")
                    if not eq:
                        name, path = os.path.basename(arg).removesuffix(".npy"), arg
                    with _About(path):
                        tensors[name] = np.load(path, mmap_mode="r", allow_pickle=False)
                        check_tensors({name: tensors[name]})
            else:
                _, tensors = load_tensors(src, a.cmd[5:])
            with _About(src if a.cmd != "from-npy" else a.inputs[0]):
                tensors = cast(tensors, a.dtype) if a.dtype else tensors
            with _About(a.out):
                write_file(a.out, [(meta, tensors)], a.zlib)
    except ValueError as e:
        sys.exit(f"flt.py: {e}")


if __name__ == "__main__":
    main(sys.argv[1:])
