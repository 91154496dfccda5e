/* SPDX-License-Identifier: ISC */
/*
 * Unit tests of what fl-aggregate's passes became in libfl: the admission
 * of records into one aggregation (admit.c), the robust rules in a memory
 * budget (robust.c: re-read in chunks, the result must be the same bits as
 * in memory) and the server's unmasking of a secure-aggregation round
 * (saunmask.c: the masks must cancel, and the files' faults are named by
 * record).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "../../lib/fl.h"
#include "unit.h"

/* ---- records ---- */

/* An update: tensors w f32 [2,2] (values v) and b f32 [1] (b), and the
 * metadata pairs of kv (NULL-terminated). */
static void
update(struct fl_record *rec, const float *v, float b, const char *const *kv)
{
	struct fl_error err;
	uint64_t d2[2] = { 2, 2 }, d1 = 1;
	struct fl_tensor *t;

	fl_record_init(rec);
	for (; kv != NULL && kv[0] != NULL; kv += 2)
		CHECK(fl_meta_set(rec, kv[0], kv[1], &err) == 0);
	CHECK((t = fl_tensor_add(rec, "w", FL_F32, 2, d2, &err)) != NULL);
	if (t != NULL)
		memcpy(t->data, v, 4 * sizeof(float));
	CHECK((t = fl_tensor_add(rec, "b", FL_F32, 1, &d1, &err)) != NULL);
	if (t != NULL)
		((float *)t->data)[0] = b;
}

/* Tensors w f32 [n] and b f32 [5] of pseudo-random values, made from
 * seed. */
static void
long_update(struct fl_record *rec, uint64_t n, unsigned seed)
{
	struct fl_error err;
	struct fl_tensor *t;
	uint64_t s = seed * UINT64_C(0x9e3779b97f4a7c15) + 7, five = 5;

	fl_record_init(rec);
	CHECK(fl_meta_set(rec, "kind", "update", &err) == 0);
	CHECK(fl_tensor_add(rec, "w", FL_F32, 1, &n, &err) != NULL);
	CHECK(fl_tensor_add(rec, "b", FL_F32, 1, &five, &err) != NULL);
	for (size_t i = 0; i < rec->ntensors; i++) {
		t = &rec->tensors[i];
		for (uint64_t j = 0; j < t->numel; j++) {
			s = s * UINT64_C(6364136223846793005) +
			    UINT64_C(1442695040888963407);
			((float *)t->data)[j] = (float)((double)(s >> 40) /
			    (1 << 20) - 8);
		}
	}
}

/* ---- admission ---- */

void
test_aggregation_admit(void)
{
	static const float v1[4] = { 1, 2, 3, 4 }, v2[4] = { 5, 6, 7, 8 };
	static const char *const ka[] = { "kind", "update", "client", "a",
		"round", "3", "weight", "1", "x-site", "lab", "x-a", "1",
		NULL };
	static const char *const kb[] = { "kind", "update", "client", "b",
		"round", "3", "weight", "3", "x-site", "lab", "x-a", "2",
		NULL };
	static const char *const kdup[] = { "client", "a", "weight", "1",
		NULL };
	static const char *const know[] = { "client", "c", NULL };
	static const char *const kround[] = { "client", "d", "round", "4",
		"weight", "1", NULL };
	static const char *const karch[] = { "client", "e", "arch", "x",
		"weight", "1", NULL };
	static const char *const kmask[] = { "mask", "secagg", "modulus",
		"256", NULL };
	static const char *const kmodel[] = { "kind", "model", NULL };
	static const char *const kagg[] = { "kind", "aggregate", "agg",
		"mean", NULL };
	static const char *const kcl[] = { "clients", "3", NULL };
	struct fl_aggregation g;
	struct fl_record a, b, r, out;
	struct fl_error err;
	enum fl_agg_rule rule;
	uint64_t clients;
	double w, lo, mid, hi;
	uint64_t n = 4;

	/* the rules' names, both ways */
	for (int i = FL_AGG_MEAN; i <= FL_AGG_KRUM; i++) {
		CHECK(fl_agg_rule_parse(fl_agg_rule_name((enum fl_agg_rule)i),
		    &rule) == 0 && rule == (enum fl_agg_rule)i);
	}
	CHECK(fl_agg_rule_parse("avg", &rule) == -1);
	CHECK(strcmp(fl_agg_rule_name(FL_AGG_TRIMMED), "trimmed-mean") == 0);
	CHECK(fl_agg_rule_name((enum fl_agg_rule)99) == NULL);

	/* A weighted mean of two: weights, counts, the kept metadata. */
	update(&a, v1, 1, ka);
	update(&b, v2, 3, kb);
	fl_aggregation_init(&g, FL_AGG_MEAN, 0, NAN, 0, 1);
	CHECK(fl_aggregation_admit(&g, &a, "a.flt", 1, &err) == 0);
	CHECK(g.started && !g.masked && g.have_float && g.first_recno == 1);
	CHECK(fl_aggregation_weigh(&g, &a, &w, &clients, &err) == 0);
	CHECK(w == 1 && clients == 1);
	CHECK(fl_aggregation_count(&g, &a, 5, w, clients, &err) == 0);
	CHECK(fl_aggregation_admit(&g, &b, "b.flt", 7, &err) == 0);
	CHECK(fl_aggregation_weigh(&g, &b, &w, &clients, &err) == 0);
	CHECK(w == 3);
	CHECK(fl_aggregation_count(&g, &b, 1, w, clients, &err) == 0);
	CHECK(g.records == 2 && g.clients == 2 && g.wsum == 4);
	CHECK(g.have_round && g.round == 3);
	/* The aggregate's metadata: what both agreed on, and the sums. */
	fl_record_init(&out);
	CHECK(fl_aggregation_meta(&g, &out, &err) == 0);
	CHECK(strcmp(fl_meta_get(&out, "kind"), "aggregate") == 0);
	CHECK(strcmp(fl_meta_get(&out, "agg"), "mean") == 0);
	CHECK(strcmp(fl_meta_get(&out, "clients"), "2") == 0);
	CHECK(strcmp(fl_meta_get(&out, "round"), "3") == 0);
	CHECK(strcmp(fl_meta_get(&out, "weight"), "4") == 0);
	CHECK(strcmp(fl_meta_get(&out, "x-site"), "lab") == 0);
	CHECK(fl_meta_get(&out, "x-a") == NULL);
	CHECK(fl_meta_get(&out, "client") == NULL);
	fl_record_free(&out);
	fl_aggregation_norms(&g, &lo, &mid, &hi);
	CHECK(lo == 1 && mid == 3 && hi == 5);
	/* a third record, client a again: cites a.flt's record 1 */
	update(&r, v1, 1, kdup);
	CHECK(fl_aggregation_admit(&g, &r, "c.flt", 2, &err) == -1);
	CHECK(g.refusal == FL_AGG_DUPLICATE && g.dup != NULL &&
	    g.dup->recno == 1 && strcmp(g.dup->file, "a.flt") == 0);
	CHECK(strcmp(err.msg, "duplicate client 'a'") == 0);
	fl_record_free(&r);
	/* no weight, in a weighted mean */
	update(&r, v1, 1, know);
	CHECK(fl_aggregation_admit(&g, &r, "c.flt", 3, &err) == 0);
	CHECK(fl_aggregation_weigh(&g, &r, &w, &clients, &err) == -1);
	CHECK(g.refusal == FL_AGG_REFUSED && strcmp(err.msg, "no weight: give "
	    "every update a weight, or use --unweighted") == 0);
	fl_record_free(&r);
	update(&r, v1, 1, kround);
	CHECK(fl_aggregation_admit(&g, &r, "c.flt", 4, &err) == -1);
	CHECK(g.refusal == FL_AGG_REFUSED && strcmp(err.msg, "round 4, but "
	    "other inputs are of round 3") == 0);
	fl_record_free(&r);
	update(&r, v1, 1, karch);
	CHECK(fl_aggregation_admit(&g, &r, "c.flt", 5, &err) == -1);
	CHECK(g.refusal == FL_AGG_DISAGREE && strcmp(g.key, "arch") == 0);
	CHECK(strcmp(err.msg, "arch: 'x' here, absent in the first record") ==
	    0);
	fl_record_free(&r);
	update(&r, v1, 1, kmask);
	CHECK(fl_aggregation_admit(&g, &r, "c.flt", 6, &err) == -1);
	CHECK(g.refusal == FL_AGG_MIXED);
	fl_record_free(&r);
	update(&r, v1, 1, kmodel);
	CHECK(fl_aggregation_admit(&g, &r, "c.flt", 7, &err) == -1);
	CHECK(g.refusal == FL_AGG_REFUSED && strcmp(err.msg, "record is a "
	    "model, not an update") == 0);
	fl_record_free(&r);
	/* another layout */
	fl_record_init(&r);
	CHECK(fl_meta_set(&r, "weight", "1", &err) == 0);
	CHECK(fl_tensor_add(&r, "w", FL_F32, 1, &n, &err) != NULL);
	CHECK(fl_aggregation_admit(&g, &r, "c.flt", 8, &err) == 0);
	CHECK(fl_aggregation_weigh(&g, &r, &w, &clients, &err) == -1);
	CHECK(g.refusal == FL_AGG_LAYOUT);
	fl_record_free(&r);
	fl_aggregation_free(&g);

	/* unweighted: a client count; a denominator: 1; merging partials */
	fl_aggregation_init(&g, FL_AGG_MEAN, 1, NAN, 0, 1);
	update(&r, v1, 1, kcl);
	CHECK(fl_aggregation_admit(&g, &r, "a.flt", 1, &err) == 0);
	CHECK(fl_aggregation_weigh(&g, &r, &w, &clients, &err) == 0);
	CHECK(w == 3 && clients == 3 && !g.all_weighted);
	fl_record_free(&r);
	fl_aggregation_free(&g);
	fl_aggregation_init(&g, FL_AGG_MEAN, 0, 7, 0, 1);
	update(&r, v1, 1, ka);
	CHECK(fl_aggregation_admit(&g, &r, "a.flt", 1, &err) == 0);
	CHECK(fl_aggregation_weigh(&g, &r, &w, &clients, &err) == 0);
	CHECK(w == 1);
	fl_record_free(&r);
	update(&r, v1, 1, kagg);
	CHECK(fl_aggregation_admit(&g, &r, "b.flt", 1, &err) == -1);
	CHECK(strstr(err.msg, "--denominator divides sums") != NULL);
	fl_record_free(&r);
	fl_aggregation_free(&g);

	/* The robust rules take updates of float tensors; the norm bound. */
	fl_aggregation_init(&g, FL_AGG_KRUM, 0, NAN, 2, 3);
	CHECK(strcmp(fl_aggregation_label(&g), "multi-krum") == 0);
	update(&r, v1, 1, kagg);
	CHECK(fl_aggregation_admit(&g, &r, "a.flt", 1, &err) == -1);
	CHECK(strcmp(err.msg, "record is an aggregate (agg=mean): krum takes "
	    "updates") == 0);
	fl_record_free(&r);
	fl_record_init(&r);
	CHECK(fl_tensor_add(&r, "f", FL_F32, 1, &n, &err) != NULL);
	CHECK(fl_tensor_add(&r, "i", FL_I32, 1, &n, &err) != NULL);
	CHECK(fl_aggregation_admit(&g, &r, "a.flt", 1, &err) == -1);
	CHECK(g.refusal == FL_AGG_INTEGER && g.tensor == 1);
	fl_record_free(&r);
	CHECK(fl_aggregation_scale(&g, 1) == 1 && g.bounded == 0);
	CHECK(fl_aggregation_scale(&g, 8) == 0.25 && g.bounded == 1);
	fl_aggregation_norms(&g, &lo, &mid, &hi);
	CHECK(isnan(lo) && isnan(mid) && isnan(hi));
	fl_aggregation_free(&g);
	fl_record_free(&a);
	fl_record_free(&b);
}

/* ---- the robust rules in a memory budget ---- */

/* Write recs to path (every other one compressed) and hold them in r,
 * as file 0, with the offsets a reader sees. */
static void
hold_all(struct fl_robust *r, const char *path, struct fl_record *recs,
    size_t n, int rereadable)
{
	struct fl_error err;
	FILE *fp = fopen(path, "w+b");
	uint64_t off[16];

	CHECK(fp != NULL);
	if (fp == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		off[i] = (uint64_t)ftello(fp);
		CHECK(fl_record_write(fp, &recs[i], i % 2 ? 6 : 0, &err) == 0);
	}
	CHECK(fflush(fp) == 0);
	fl_robust_file(r, 0, path, rereadable ? fileno(fp) : -1);
	rewind(fp);
	for (size_t i = 0; i < n; i++) {
		struct fl_record back;

		fl_record_init(&back);
		CHECK(fl_record_read(&back, fp, NULL, &err) == 1);
		if (fl_robust_hold(r, &back, 0, i + 1, off[i], i == 2 ? 0.5 : 1,
		    &err) < 0)
			CHECK(err.code == FL_ELIMIT && r->fail_file == 0 &&
			    !rereadable);
		fl_record_free(&back);
	}
	fclose(fp);
}

/* The rule's result with a budget of memory bytes, into out. */
static int
robust_with(const char *path, struct fl_record *recs, size_t n,
    uint64_t memory, enum fl_agg_rule rule, uint64_t select,
    struct fl_record *out, int *chunked, struct fl_error *err)
{
	struct fl_robust r;
	struct fl_layout l;
	uint64_t rejected;
	int rc;

	CHECK(fl_robust_init(&r, 1, memory, NULL, err) == 0);
	CHECK(fl_layout_init(&l, &recs[0], err) == 0);
	hold_all(&r, path, recs, n, 1);
	*chunked = r.chunked;
	fl_record_init(out);
	CHECK(fl_layout_add(&l, out, err) == 0);
	rc = fl_robust_run(&r, &l, rule, 0.2, 1, select, out, &rejected, err);
	CHECK(rc < 0 || rejected == (rule == FL_AGG_KRUM ? n - select : 0));
	fl_layout_free(&l);
	fl_robust_free(&r);
	return rc;
}

static int
same_values(const struct fl_record *a, const struct fl_record *b)
{
	if (a->ntensors != b->ntensors)
		return 0;
	for (size_t i = 0; i < a->ntensors; i++)
		if (a->tensors[i].nbytes != b->tensors[i].nbytes ||
		    memcmp(a->tensors[i].data, b->tensors[i].data,
		    a->tensors[i].nbytes) != 0)
			return 0;
	return 1;
}

void
test_robust_chunked(void)
{
	static const float v[5][4] = { { 1, 9, 3, 0 }, { 2, 8, 3, 1 },
		{ 30, 7, 3, 2 }, { 4, 6, 3, 3 }, { 5, 5, 3, 4 } };
	const enum fl_agg_rule rules[3] = { FL_AGG_MEDIAN, FL_AGG_TRIMMED,
		FL_AGG_KRUM };
	char path[] = "/tmp/fl-unit-robust.XXXXXX";
	struct fl_record recs[7], whole, part;
	struct fl_robust r;
	struct fl_error err;
	uint64_t rejected;
	int fd = mkstemp(path), chunked;
	FILE *fp;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	close(fd);
	/* By hand: the median of five 2x2 updates, update 3 (index 2)
	 * scaled by 0.5: w[0] of {1, 2, 15, 4, 5} is 4. */
	for (int i = 0; i < 5; i++)
		update(&recs[i], v[i], (float)i, NULL);
	CHECK(robust_with(path, recs, 5, 1 << 20, FL_AGG_MEDIAN, 1, &whole,
	    &chunked, &err) == 0 && !chunked);
	CHECK(((float *)whole.tensors[0].data)[0] == 4);
	CHECK(((float *)whole.tensors[0].data)[1] == 6);
	CHECK(((float *)whole.tensors[0].data)[2] == 3);
	CHECK(((float *)whole.tensors[1].data)[0] == 1);
	fl_record_free(&whole);
	for (int i = 0; i < 5; i++)
		fl_record_free(&recs[i]);

	/* Long rows: in memory and in chunks of one block (the last holding
	 * the end of w and all of b), the same bits. */
	for (unsigned i = 0; i < 7; i++)
		long_update(&recs[i], 3 * FL_AGG_BLOCK + 77, i);
	for (int k = 0; k < 3; k++) {
		uint64_t sel = rules[k] == FL_AGG_KRUM ? 2 : 1;

		CHECK(robust_with(path, recs, 7, 1 << 24, rules[k], sel, &whole,
		    &chunked, &err) == 0 && !chunked);
		CHECK(robust_with(path, recs, 7, 7 * 8 * FL_AGG_BLOCK,
		    rules[k], sel, &part, &chunked, &err) == 0 && chunked);
		CHECK(same_values(&whole, &part));
		fl_record_free(&whole);
		fl_record_free(&part);
	}
	/* A budget below one block of every update. */
	CHECK(robust_with(path, recs, 7, 7 * 8 * FL_AGG_BLOCK - 1,
	    FL_AGG_MEDIAN, 1, &part, &chunked, &err) == -1 && chunked);
	CHECK(err.code == FL_ELIMIT && strcmp(err.msg, "--memory 14335 is too "
	    "small for 7 updates: give at least 14336") == 0);
	fl_record_free(&part);

	/* A file that cannot be re-read: refused when the budget is past. */
	CHECK(fl_robust_init(&r, 1, 1000, NULL, &err) == 0);
	hold_all(&r, path, recs, 3, 0);
	CHECK(r.fail_file == 0 && r.n >= 1);
	fl_robust_free(&r);

	/* A file that changed between the passes. */
	CHECK(fl_robust_init(&r, 1, 7 * 8 * FL_AGG_BLOCK, NULL, &err) == 0);
	hold_all(&r, path, recs, 7, 1);
	CHECK(r.chunked && r.held == 0);
	if ((fp = fopen(path, "ab")) != NULL) {
		fputc(0, fp);
		fclose(fp);
	}
	{
		struct fl_layout l;

		CHECK(fl_layout_init(&l, &recs[0], &err) == 0);
		fl_record_init(&part);
		CHECK(fl_layout_add(&l, &part, &err) == 0);
		CHECK(fl_robust_run(&r, &l, FL_AGG_MEDIAN, 0, 0, 1, &part,
		    &rejected, &err) == -1);
		CHECK(r.fail_file == 0 && strcmp(err.msg, "changed while being "
		    "aggregated") == 0);
		fl_layout_free(&l);
		fl_record_free(&part);
	}
	fl_robust_free(&r);
	for (int i = 0; i < 7; i++)
		fl_record_free(&recs[i]);
	unlink(path);
}

/* ---- unmasking ---- */

enum { NC = 5, DIM = 6 };

/* recs (n of them) written to a temporary file, then again record
 * recs[again] if again < n, rewound. */
static FILE *
to_file(const struct fl_record *recs, size_t n, size_t again)
{
	struct fl_error err;
	FILE *fp = tmpfile();

	CHECK(fp != NULL);
	if (fp == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		CHECK(fl_record_write(fp, &recs[i], 0, &err) == 0);
	if (again < n)
		CHECK(fl_record_write(fp, &recs[again], 0, &err) == 0);
	rewind(fp);
	return fp;
}

void
test_sa_unmasking(void)
{
	struct fl_sa_identity op, id[NC];
	struct fl_sa_secret s[NC];
	struct fl_sa_public *pub = calloc(NC, sizeof(*pub));
	struct fl_sa_received rc[NC];
	struct fl_sa_roster r;
	struct fl_sa_unmasking u;
	struct fl_record shares[NC], masked[NC], conf[NC], rv[NC];
	struct fl_record sum;
	struct fl_error err;
	struct fl_rng rng;
	unsigned char key[FL_RNG_KEYBYTES], seed[FL_SA_BYTES] = { 0 };
	uint32_t me[NC], surv[NC], plain[DIM] = { 0 };
	const uint64_t modulus = UINT64_C(1) << 20;
	uint64_t dim = DIM;
	size_t m = 0;
	FILE *fp, *cfp;

	CHECK(sodium_init() >= 0);
	fl_rng_seed_text(key, "unit unmasking");
	fl_rng_init(&rng, key, 0);
	seed[0] = 1;
	CHECK(fl_sa_identity_make(&op, "operator", seed, NULL, &err) == 0);
	for (int i = 0; i < NC; i++) {
		char name[8];

		snprintf(name, sizeof(name), "c%d", i + 1);
		seed[0] = (unsigned char)(i + 2);
		CHECK(fl_sa_identity_make(&id[i], name, seed, op.pk, &err) == 0);
		CHECK(fl_sa_secret_new(&s[i], &id[i], 3, &rng, &err) == 0);
		CHECK(fl_sa_public_of(&s[i], &id[i], &pub[i], &err) == 0);
	}
	/* Five clients, the full graph, threshold 3 (as fl-mask.bats). */
	CHECK(fl_sa_roster_init(&r, pub, NC, 4, 3, 0, &err) == 0);
	for (int i = 0; i < NC; i++) {
		CHECK((me[i] = fl_sa_roster_find(&r, id[i].id)) != 0);
		fl_record_init(&shares[i]);
		CHECK(fl_sa_client_share(&shares[i], &r, me[i], &s[i],
		    &err) == 0);
	}
	/* Clients 1 to 4 mask; client 5 drops after sharing. */
	fp = to_file(shares, NC, NC);
	for (int i = 0; i < NC - 1; i++) {
		struct fl_tensor *t;

		rewind(fp);
		CHECK(fl_sa_received_read(&rc[i], fp, &r, &s[i], me[i], 1,
		    &err) == 0);
		fl_record_init(&masked[i]);
		CHECK(fl_meta_set(&masked[i], "kind", "update", &err) == 0);
		CHECK(fl_meta_setf(&masked[i], &err, "modulus", "%llu",
		    (unsigned long long)modulus) == 0);
		CHECK((t = fl_tensor_add(&masked[i], "w", FL_U32, 1, &dim,
		    &err)) != NULL);
		for (int j = 0; t != NULL && j < DIM; j++) {
			uint32_t x = (uint32_t)((i + 1) * 1000 + j * 77);

			((uint32_t *)t->data)[j] = x;
			plain[j] = (uint32_t)((plain[j] + x) % modulus);
		}
		CHECK(fl_sa_client_mask(&masked[i], &r, &s[i], &rc[i], 1,
		    &err) == 0);
		surv[m++] = me[i];
	}
	fclose(fp);
	/* The server's sum, mod 2^20. */
	fl_record_init(&sum);
	CHECK(fl_meta_copy(&sum, &masked[0], &err) == 0);
	{
		struct fl_tensor *t = fl_tensor_add(&sum, "w", FL_U32, 1, &dim,
		    &err);

		for (int j = 0; t != NULL && j < DIM; j++) {
			uint64_t acc = 0;

			for (int i = 0; i < NC - 1; i++)
				acc += ((uint32_t *)masked[i].tensors[0].data)[j];
			((uint32_t *)t->data)[j] = (uint32_t)(acc % modulus);
		}
		CHECK(t != NULL && memcmp(t->data, plain, sizeof(plain)) != 0);
	}
	/* The consistency round and the reveals, from the survivors (the
	 * survivor list ascending, as the server sends it). */
	fl_sort_u32(surv, m);
	for (int i = 0; i < NC - 1; i++) {
		fl_record_init(&conf[i]);
		CHECK(fl_sa_client_confirm(&conf[i], &r, me[i], &s[i], &id[i],
		    &rc[i], surv, m, &err) == 0);
	}
	cfp = to_file(conf, NC - 1, NC);
	for (int i = 0; i < NC - 1; i++) {
		rewind(cfp);
		fl_record_init(&rv[i]);
		CHECK(fl_sa_client_reveal(&rv[i], &r, me[i], &s[i], &rc[i],
		    surv, m, cfp, &err) == 0);
	}
	fclose(cfp);

	/* The unmasking: the survivors' plain sum. */
	CHECK(fl_sa_unmasking_init(&u, &r, &err) == 0);
	fp = to_file(shares, NC, NC);
	CHECK(fl_sa_unmasking_shares(&u, fp, &err) == 0 && u.nshares == NC);
	fclose(fp);
	fp = to_file(rv, NC - 1, NC);
	CHECK(fl_sa_unmasking_reveals(&u, fp, &err) == 0 &&
	    u.nreveals == NC - 1);
	fclose(fp);
	{
		uint32_t desc[NC];

		for (size_t i = 0; i < m; i++)
			desc[i] = surv[m - 1 - i];
		CHECK(fl_sa_unmasking_run(&u, &sum, desc, m,
		    fl_meta_get(&masked[0], "secagg.shared"), 2, &err) == 0);
		CHECK(desc[0] < desc[m - 1]);   /* sorted in place */
	}
	CHECK(u.faults.n == 0);
	CHECK(memcmp(sum.tensors[0].data, plain, sizeof(plain)) == 0);
	fl_sa_unmasking_free(&u);
	CHECK(fl_sa_unmasked_meta(&sum, &r, &err) == 0);
	CHECK(fl_meta_get(&sum, "mask") == NULL &&
	    fl_meta_get(&sum, "secagg.session") == NULL &&
	    fl_meta_get(&sum, "secagg.shared") == NULL);
	CHECK(strcmp(fl_meta_get(&sum, "secagg.corrupt"), "0") == 0);
	CHECK(strcmp(fl_meta_get(&sum, "modulus"), "1048576") == 0);

	/* A client that shares twice, a survivor that reveals twice: named
	 * by record; a file cut short: its record's read error. */
	CHECK(fl_sa_unmasking_init(&u, &r, &err) == 0);
	fp = to_file(shares, NC, 1);
	CHECK(fl_sa_unmasking_shares(&u, fp, &err) == -1 && u.recno == NC + 1);
	CHECK(strcmp(err.msg, "client 'c2' shared twice") == 0);
	fclose(fp);
	fl_sa_unmasking_free(&u);
	CHECK(fl_sa_unmasking_init(&u, &r, &err) == 0);
	fp = to_file(rv, NC - 1, 0);
	CHECK(fl_sa_unmasking_reveals(&u, fp, &err) == -1 && u.recno == NC);
	CHECK(strstr(err.msg, "a second reveal from client 'c") == err.msg);
	fclose(fp);
	fl_sa_unmasking_free(&u);
	CHECK(fl_sa_unmasking_init(&u, &r, &err) == 0);
	if ((fp = tmpfile()) != NULL) {
		CHECK(fl_record_write(fp, &shares[0], 0, &err) == 0);
		fputs("FLT1 cut", fp);
		rewind(fp);
		CHECK(fl_sa_unmasking_shares(&u, fp, &err) == -1 &&
		    u.recno == 2);
		fclose(fp);
	}
	fl_sa_unmasking_free(&u);

	for (int i = 0; i < NC; i++)
		fl_record_free(&shares[i]);
	for (int i = 0; i < NC - 1; i++)
		fl_record_free(&rv[i]);
	for (int i = 0; i < NC - 1; i++) {
		fl_record_free(&masked[i]);
		fl_record_free(&conf[i]);
		fl_sa_received_free(&rc[i], r.n);
	}
	fl_record_free(&sum);
	fl_sa_roster_free(&r);
}
