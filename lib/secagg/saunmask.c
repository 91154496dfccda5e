/* SPDX-License-Identifier: ISC */
/*
 * The server's unmasking of a round, around fl_sa_unmask_record: the
 * clients' share envelopes and commitments (one per client, to tell a
 * wrong revealed share from a right one), the survivors' reveals (one per
 * survivor), then the masks out of the modular sum and the sum's metadata
 * made that of a plain one.  Each file is read whole before its records
 * are parsed; the reveals rebuild secrets, so their records are wiped
 * before they are freed.  Out of fl-aggregate, where it was the program's
 * last step.
 */
#include <stdlib.h>
#include <string.h>

#include "secagg/secagg.h"

int
fl_sa_unmasking_init(struct fl_sa_unmasking *u, const struct fl_sa_roster *r,
    struct fl_error *err)
{
	memset(u, 0, sizeof(*u));
	u->roster = r;
	u->dealt = calloc(r->n, sizeof(*u->dealt));
	u->seen = calloc(r->n, 1);
	if (u->dealt == NULL || u->seen == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	return 0;
}

/* The records of a protocol file, all of it (a few per client). */
static int
read_all(FILE *fp, struct fl_record **out, size_t *nout, unsigned long *recno,
    struct fl_error *err)
{
	struct fl_record *recs = NULL;
	size_t n = 0, cap = 0;
	int rc;

	for (;;) {
		if (n == cap) {
			size_t c = cap ? 2 * cap : 64;
			void *p = c > SIZE_MAX / sizeof(*recs) ? NULL :
			    realloc(recs, c * sizeof(*recs));

			if (p == NULL) {
				rc = fl_error_set(err, FL_ENOMEM,
				    "out of memory");
				break;
			}
			recs = p;
			cap = c;
		}
		fl_record_init(&recs[n]);
		if ((rc = fl_record_read(&recs[n], fp, NULL, err)) == 0)
			break;
		if (rc < 0) {
			*recno = (unsigned long)n + 1;
			break;
		}
		n++;
	}
	if (n < cap)
		fl_record_free(&recs[n]);
	*out = recs;
	*nout = n;
	return rc;
}

int
fl_sa_unmasking_shares(struct fl_sa_unmasking *u, FILE *fp,
    struct fl_error *err)
{
	const struct fl_sa_roster *r = u->roster;

	u->recno = 0;
	if (read_all(fp, &u->shares, &u->nshares, &u->recno, err) < 0)
		return -1;
	for (size_t i = 0; i < u->nshares; i++) {
		struct fl_sa_shares sh;

		u->recno = (unsigned long)i + 1;
		if (fl_sa_shares_from_record(&sh, &u->shares[i], r, err) < 0)
			return -1;
		if (u->dealt[sh.from - 1].m)
			return fl_error_set(err, FL_EFORMAT, "client '%s' "
			    "shared twice", r->pub[sh.from - 1].id);
		u->dealt[sh.from - 1] = sh;
	}
	u->recno = 0;
	return 0;
}

int
fl_sa_unmasking_reveals(struct fl_sa_unmasking *u, FILE *fp,
    struct fl_error *err)
{
	const struct fl_sa_roster *r = u->roster;

	u->recno = 0;
	if (read_all(fp, &u->reveals, &u->nreveals, &u->recno, err) < 0)
		return -1;
	u->rv = malloc(u->nreveals ? u->nreveals * sizeof(*u->rv) : 1);
	if (u->rv == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	for (size_t i = 0; i < u->nreveals; i++) {
		u->recno = (unsigned long)i + 1;
		if (fl_sa_reveal_from_record(&u->rv[i], &u->reveals[i], r,
		    err) < 0)
			return -1;
		if (u->seen[u->rv[i].from - 1])
			return fl_error_set(err, FL_EFORMAT, "a second reveal "
			    "from client '%s'", r->pub[u->rv[i].from - 1].id);
		u->seen[u->rv[i].from - 1] = 1;
	}
	u->recno = 0;
	return 0;
}

int
fl_sa_unmasking_run(struct fl_sa_unmasking *u, struct fl_record *sum,
    uint32_t *surv, size_t nsurv, const char *shared_hash, int nthreads,
    struct fl_error *err)
{
	fl_sort_u32(surv, nsurv);
	return fl_sa_unmask_record(sum, u->roster, surv, nsurv, shared_hash,
	    u->rv, u->nreveals, u->dealt, &u->faults, nthreads, err);
}

void
fl_sa_unmasking_free(struct fl_sa_unmasking *u)
{
	/* The revealed shares rebuild secrets: not left in freed memory. */
	for (size_t i = 0; i < u->nreveals; i++)
		fl_record_wipe(&u->reveals[i]);
	for (size_t i = 0; i < u->nshares; i++)
		fl_record_free(&u->shares[i]);
	free(u->reveals);
	free(u->shares);
	free(u->rv);
	free(u->dealt);
	free(u->seen);
	free(u->faults.v);
	memset(u, 0, sizeof(*u));
}

int
fl_sa_unmasked_meta(struct fl_record *sum, const struct fl_sa_roster *r,
    struct fl_error *err)
{
	fl_meta_del(sum, "mask");
	fl_meta_del(sum, "secagg.session");
	fl_meta_del(sum, "secagg.shared");
	/* The clients the roster assumed colluding with the server: their
	 * noise shares protect no one, and fl-account charges without them. */
	return fl_meta_setf(sum, err, "secagg.corrupt", "%lu",
	    (unsigned long)r->corrupt);
}
