/* SPDX-License-Identifier: ISC */
/*
 * A device's own record of the rounds it took part in, for DP-FTRL's
 * participation pattern: the accountant charged at most k participations
 * at least b rounds apart, and only the device can know that it keeps to
 * them whatever the server asks.
 */
#include <inttypes.h>
#include <string.h>

#include "privacy/privacy.h"

int
fl_participation_from_record(struct fl_participation *p,
    const struct fl_record *rec, struct fl_error *err)
{
	const char *kind = fl_meta_get(rec, "kind");
	const char *last = fl_meta_get(rec, "participation.last");
	const char *count = fl_meta_get(rec, "participation.count");
	struct fl_error e;

	memset(p, 0, sizeof(*p));
	if (kind == NULL || strcmp(kind, "participation") != 0)
		return fl_error_set(err, FL_EFORMAT, "not a participation "
		    "record (kind=participation)");
	if (last == NULL || fl_parse_u64(last, 0, UINT64_MAX - 1, &p->last,
	    &e) < 0)
		return fl_error_set(err, FL_EFORMAT, "bad or missing "
		    "'participation.last'");
	if (count == NULL || fl_parse_u64(count, 1, UINT64_MAX - 1, &p->count,
	    &e) < 0)
		return fl_error_set(err, FL_EFORMAT, "bad or missing "
		    "'participation.count'");
	return 0;
}

int
fl_participation_to_record(struct fl_record *rec,
    const struct fl_participation *p, struct fl_error *err)
{
	if (fl_meta_set(rec, "kind", "participation", err) < 0 ||
	    fl_meta_setf(rec, err, "participation.last", "%" PRIu64,
	    p->last) < 0 ||
	    fl_meta_setf(rec, err, "participation.count", "%" PRIu64,
	    p->count) < 0)
		return -1;
	return 0;
}

int
fl_participation_take(struct fl_participation *p, uint64_t round,
    uint64_t k, uint64_t b, struct fl_error *err)
{
	if (p->count > 0 && round <= p->last)
		return fl_error_set(err, FL_EINVAL, "round %" PRIu64 " is not "
		    "after this device's last one, %" PRIu64, round, p->last);
	if (p->count > 0 && round - p->last < b)
		return fl_error_set(err, FL_EINVAL, "too soon: round %" PRIu64
		    " is %" PRIu64 " after this device's last one (%" PRIu64
		    "), the separation is %" PRIu64, round, round - p->last,
		    p->last, b);
	if (p->count >= k)
		return fl_error_set(err, FL_EINVAL, "this device took part "
		    "%" PRIu64 " times, the most the pattern allows",
		    p->count);
	p->last = round;
	p->count++;
	return 0;
}
