/* SPDX-License-Identifier: ISC */
/* Sorting the small integer lists of the library: client ids and Shamir
 * x-coordinates. */
#include <stdlib.h>

#include "base/base.h"

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

void
fl_sort_u32(uint32_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u32);
}
