/* SPDX-License-Identifier: ISC */
#include <string.h>

#include "format/internal.h"

/* Formats people commonly feed us by mistake, recognised by their magic. */
const char *
fl_sniff_format(const unsigned char *b, size_t len)
{
	if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b)
		return "gzip-compressed data (decompress it first: zcat)";
	if (len >= 4 && memcmp(b, "\x28\xb5\x2f\xfd", 4) == 0)
		return "zstd-compressed data (decompress it first: zstdcat)";
	if (len >= 6 && memcmp(b, "\x93NUMPY", 6) == 0)
		return "a numpy .npy file (convert it with examples/python/flt.py)";
	if (len >= 4 && memcmp(b, "PK\x03\x04", 4) == 0)
		return "a zip archive (a numpy .npz file?)";
	/* safetensors: u64 LE header length, then a JSON object. */
	if (len >= 9 && b[8] == '{' && fl_load_le64(b) < (UINT64_C(1) << 32))
		return "a safetensors file (convert it with "
		    "examples/python/flt.py)";
	return NULL;
}
