/* SPDX-License-Identifier: ISC */
/* Unit tests of the release policy's tensor rule (lib/privacy/release.c):
 * what protects each tensor of a record once it leaves a device. */
#include <string.h>

#include "../../lib/fl.h"
#include "unit.h"

static void
protection_of(const char *const *meta, const char *name,
    struct fl_protection *p)
{
	struct fl_record rec;
	struct fl_error err;

	fl_record_init(&rec);
	for (size_t i = 0; meta[i] != NULL; i += 2)
		CHECK(fl_meta_set(&rec, meta[i], meta[i + 1], &err) == 0);
	fl_release_protection(&rec, name, p);
	/* the strings point into rec: compare before it goes */
	CHECK(p->mechanism == NULL || strlen(p->mechanism) > 0);
	p->mechanism = p->mechanism ? "set" : NULL;
	p->shares = p->shares ? "set" : NULL;
	fl_record_free(&rec);
}

void
test_release_protection(void)
{
	static const char *const plain[] = { "kind", "update", NULL };
	static const char *const noised[] = { "dp.mechanism", "gaussian",
	    NULL };
	static const char *const share[] = { "dp.mechanism",
	    "discrete-gaussian", "dp.shares", "10", NULL };
	static const char *const share_masked[] = { "dp.mechanism",
	    "discrete-gaussian", "dp.shares", "10", "mask", "secagg", NULL };
	static const char *const one_share[] = { "dp.mechanism", "gaussian",
	    "dp.shares", "1", NULL };
	static const char *const adapt[] = { "dp.mechanism", "gaussian",
	    "dp.clip-indicator", "fl.clip", NULL };
	static const char *const adapt_masked[] = { "dp.mechanism",
	    "gaussian", "dp.clip-indicator", "fl.clip", "mask", "secagg",
	    NULL };
	struct fl_protection p;

	/* nothing said: not noised, in clear */
	protection_of(plain, "w", &p);
	CHECK(p.mechanism == NULL && !p.masked && p.in_clear && !p.weak_share);
	/* central noise: noised, not in clear though unmasked */
	protection_of(noised, "w", &p);
	CHECK(p.mechanism != NULL && !p.in_clear && !p.weak_share);
	/* a share of distributed noise is weak until masked */
	protection_of(share, "w", &p);
	CHECK(p.weak_share && !p.in_clear && p.shares != NULL);
	protection_of(share_masked, "w", &p);
	CHECK(!p.weak_share && p.masked && !p.in_clear);
	/* one share is the whole noise */
	protection_of(one_share, "w", &p);
	CHECK(!p.weak_share && !p.in_clear);
	/* the clip indicator is the server's to noise: in clear unmasked */
	protection_of(adapt, "fl.clip", &p);
	CHECK(p.server_noised && p.in_clear && !p.weak_share);
	protection_of(adapt, "w", &p);
	CHECK(!p.server_noised && !p.in_clear);
	protection_of(adapt_masked, "fl.clip", &p);
	CHECK(p.server_noised && p.masked && !p.in_clear);
}
