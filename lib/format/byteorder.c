/* SPDX-License-Identifier: ISC */
/* A payload's elements are little-endian by definition (flt(5)); in memory
 * they are the host's.  On a big-endian host the reader swaps each piece
 * after its checksum and the writer swaps a copy, so a record is the same
 * bytes on every machine; on a little-endian host nothing is done. */
#include "format/internal.h"

void
fl_payload_swap(const struct fl_record *rec, size_t off, unsigned char *p,
    size_t len)
{
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		size_t es = fl_dtype_size(t->dtype), from = t->offset,
		    to = t->offset + t->nbytes;

		if (es < 2 || to <= off || from >= off + len)
			continue;
		/* pieces are multiples of 64 bytes: no element straddles */
		if (from < off)
			from = off;
		if (to > off + len)
			to = off + len;
		fl_swap_elements(p + (from - off), to - from, es);
	}
}
