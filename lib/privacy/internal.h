/* SPDX-License-Identifier: ISC */
/* privacy/internal.h - the random stream inlined for the samplers' inner loops, and the DP step's metadata readers; not installed. */
#ifndef FL_PRIVACY_INTERNAL_H
#define FL_PRIVACY_INTERNAL_H

#include <endian.h>

#include "base/internal.h"
#include "privacy/privacy.h"

/* The next keystream block of r's buffer (rng.c). */
void fl_rng_refill(struct fl_rng *r);

/* fl_rng_u48 inlined, for the samplers' inner loops. */
static inline uint64_t
fl_rng_next48(struct fl_rng *r)
{
	uint64_t v;

	if (r->pos + 8 > sizeof(r->buf))
		fl_rng_refill(r);
	__builtin_memcpy(&v, r->buf + r->pos, 8);
	r->pos += 6;
	return le64toh(v) & ((UINT64_C(1) << 48) - 1);
}

/* A DP-FTRL record's required metadata number (ftrl-state.c): in [min,
 * max] (or positive and finite), fl_meta_u64's and fl_meta_double's
 * messages; absent is "no 'KEY': ABSENT" (FL_EFORMAT). */
int fl_ftrl_meta_u64(const struct fl_record *rec, const char *key,
    uint64_t min, uint64_t max, uint64_t *v, const char *absent,
    struct fl_error *err);
int fl_ftrl_meta_positive(const struct fl_record *rec, const char *key,
    double *v, const char *absent, struct fl_error *err);

/* The ring modulus of a record: "modulus", 2^64 written out as 0; absent
 * leaves 0. */
int fl_dp_ring_modulus(const struct fl_record *rec, uint64_t *modulus,
    struct fl_error *err);

/* The index of t's first value whose magnitude is not <= limit (NaN,
 * infinite or too large), or t's numel; vectorised (dp.c). */
uint64_t fl_find_bad(const struct fl_tensor *t, double limit);

/* v[i] snapped to the grid g (fi = 1/g times a scale) plus z[i] whole
 * steps: (round(v[i] fi) + z[i]) g, in v's type; the noise passes' last
 * step (dp.c), vectorised, the scalar roundings. */
void fl_add_steps_f32(float *restrict v, const double *restrict z,
    uint64_t n, double fi, double g);
void fl_add_steps_f64(double *restrict v, const double *restrict z,
    uint64_t n, double fi, double g);

#endif
