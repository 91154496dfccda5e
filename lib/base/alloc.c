/* SPDX-License-Identifier: ISC */
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"

void *
fl_alloc_aligned(size_t n)
{
	void *p;

	/* 64 bytes: a cache line and the widest vector load we use. */
	if (posix_memalign(&p, FL_ALIGN, n ? n : FL_ALIGN) != 0)
		return NULL;
	return p;
}

int
fl_grow(unsigned char **buf, size_t *cap, size_t need, size_t keep,
    struct fl_error *err)
{
	unsigned char *p;

	/* Never leave a NULL buffer: tensors of zero size still point into
	 * the payload, and memcpy/memset of 0 bytes to NULL is undefined. */
	if (need <= *cap && *buf != NULL)
		return 0;
	if (need < FL_ALIGN)
		need = FL_ALIGN;
	p = fl_alloc_aligned(need);
	if (p == NULL)
		return fl_error_set(err, FL_ENOMEM,
		    "out of memory allocating %zu bytes", need);
	if (keep)
		memcpy(p, *buf, keep);
	free(*buf);
	*buf = p;
	*cap = need;
	return 0;
}
