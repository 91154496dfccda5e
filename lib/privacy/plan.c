/* SPDX-License-Identifier: ISC */
/*
 * Accounting after a ledger: releases composed after the fixed ones
 * already spent (a spend judged before it is written, against a budget),
 * and a planning curve, the privacy after every K steps of a release
 * still to come.  fl-account built these arrays itself; the arithmetic is
 * here, the text in report.c.
 */
#include <stdlib.h>
#include <string.h>

#include "privacy/privacy.h"

int
fl_account_after(const struct fl_account *acct,
    const struct fl_release *fixed, size_t nfixed,
    const struct fl_release *r, size_t n, int cumulative, int given_eps,
    double given, struct fl_privacy *out, struct fl_error *err)
{
	struct fl_release *all;
	int rc;

	if (nfixed == 0)
		return fl_account_run(acct, r, n, cumulative, given_eps, given,
		    out, err);
	if ((all = malloc((nfixed + n + 1) * sizeof(*all))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	memcpy(all, fixed, nfixed * sizeof(*all));
	if (n > 0)
		memcpy(all + nfixed, r, n * sizeof(*all));
	rc = fl_account_run(acct, all, nfixed + n, cumulative, given_eps,
	    given, out, err);
	free(all);
	return rc;
}

int
fl_over_budget(const struct fl_question *q, const struct fl_privacy *p)
{
	return q->has_budget && !q->given_eps && !(p->epsilon <= q->budget);
}

int
fl_delta_check(const struct fl_question *q, uint64_t population,
    struct fl_error *err)
{
	char b1[FL_NUMBUF], b2[FL_NUMBUF];

	if (population > 0 && !q->given_eps &&
	    q->delta >= 1 / (double)population)
		return fl_error_set(err, FL_EINVAL, "delta '%s' is not below "
		    "1/population ('%s'): a release of one whole record would "
		    "be allowed", fl_format_double(b1, q->delta),
		    fl_format_double(b2, 1 / (double)population));
	return 0;
}

uint64_t
fl_curve_points(uint64_t steps, uint64_t every)
{
	return (steps + every - 1) / every;
}

int
fl_account_curve(const struct fl_account *acct,
    const struct fl_release *fixed, size_t nfixed,
    const struct fl_release *tmpl, uint64_t every, int given_eps,
    double given, struct fl_privacy *out, uint64_t *at,
    struct fl_error *err)
{
	uint64_t T = tmpl->steps, K = every, npts = fl_curve_points(T, K);
	struct fl_release *r;
	struct fl_privacy *p;
	uint64_t done = 0;
	int rc = -1;

	r = malloc((nfixed + npts + 1) * sizeof(*r));
	p = malloc((nfixed + npts + 1) * sizeof(*p));
	if (r == NULL || p == NULL) {
		fl_error_set(err, FL_ENOMEM, "out of memory");
		goto out;
	}
	if (nfixed > 0)
		memcpy(r, fixed, nfixed * sizeof(*r));
	for (uint64_t i = 0; i < npts; i++) {
		r[nfixed + i] = *tmpl;
		r[nfixed + i].steps = K < T - done ? K : T - done;
		done += r[nfixed + i].steps;
	}
	if (fl_account_run(acct, r, nfixed + npts, 1, given_eps, given, p,
	    err) < 0)
		goto out;
	done = nfixed > 0 ? fl_release_steps(fixed, nfixed) : 0;
	for (uint64_t i = 0; i < npts; i++) {
		done += r[nfixed + i].steps;
		at[i] = done;
		out[i] = p[nfixed + i];
	}
	rc = 0;
out:
	free(r);
	free(p);
	return rc;
}
