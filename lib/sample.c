/* SPDX-License-Identifier: ISC */
/*
 * Poisson sampling, as the accountants assume it: each of n items
 * independently with probability q.  DP-SGD draws its batches with it, and
 * the server its cohorts (fl-account --sample).  Geometric gaps between the
 * chosen items: one uniform per chosen item instead of one per item.
 */
#include <math.h>

#include "internal.h"

size_t
fl_sample_poisson(uint64_t *idx, size_t cap, uint64_t n, double q,
    struct fl_rng *r, int *overflow)
{
	double lq = log1p(-q);
	uint64_t i = 0;
	size_t b = 0;

	*overflow = 0;
	if (q >= 1) {
		for (i = 0; i < n && b < cap; i++)
			idx[b++] = i;
		*overflow = n > cap;
		return b;
	}
	for (;;) {
		double u = (double)((fl_rng_u64(r) >> 11) + 1) * 0x1p-53;
		double gap = floor(log(u) / lq);

		if (gap >= (double)(n - i))
			break;
		i += (uint64_t)gap;
		if (b == cap) {
			*overflow = 1;
			return b;
		}
		idx[b++] = i++;
		if (i >= n)
			break;
	}
	return b;
}
