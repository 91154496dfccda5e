/* SPDX-License-Identifier: ISC */
/*
 * The accountant's answers as fl-account prints them (fl-account(1),
 * OUTPUT), written to the caller's stream: the answer line, a ledger's
 * report of one row per release, and a planning curve, each as text or
 * as one JSON object.  Text numbers have 6 significant digits; JSON ones
 * read back exactly (fl_json_number).  Write errors stay in the stream
 * (ferror) for the caller's close to report.
 */
#include <math.h>
#include <string.h>

#include "privacy/privacy.h"

/* A member: ",\"key\":v" in JSON (v exact), " key v" in text (6
 * significant digits, "inf" when unbounded). */
static void
member(FILE *fp, int json, const char *key, double v)
{
	if (json) {
		fprintf(fp, ",\"%s\":", key);
		fl_json_number(fp, v);
	} else
		fprintf(fp, " %s %.6g", key, v);
}

static void
member_u64(FILE *fp, int json, const char *key, uint64_t v)
{
	fprintf(fp, json ? ",\"%s\":%llu" : " %s %llu", key,
	    (unsigned long long)v);
}

void
fl_answer_write(FILE *fp, const struct fl_question *q,
    const struct fl_privacy *p, const double *noise, uint64_t steps,
    uint64_t count, const char *label, int json)
{
	const char *acct = fl_accountant_name(q->accountant);

	if (json) {
		fprintf(fp, "{\"accountant\":\"%s\"", acct);
		member(fp, 1, "epsilon", p->epsilon);
		member(fp, 1, "delta", p->delta);
		if (noise != NULL)
			member(fp, 1, "noise", *noise);
	} else {
		/* What was asked first, then its conditions. */
		if (noise != NULL)
			fprintf(fp, "noise %.6g epsilon %.6g delta %.6g",
			    *noise, p->epsilon, p->delta);
		else if (q->given_eps)
			fprintf(fp, "delta %.6g epsilon %.6g", p->delta,
			    p->epsilon);
		else
			fprintf(fp, "epsilon %.6g delta %.6g", p->epsilon,
			    p->delta);
		fprintf(fp, " accountant %s", acct);
	}
	if (q->shares > 0)
		member_u64(fp, json, "shares", q->shares);
	if (q->target > 0)
		member(fp, json, "margin", q->target - p->epsilon);
	if (!isnan(p->order))
		member(fp, json, "order", p->order);
	if (!isnan(p->interval))
		member(fp, json, "interval", p->interval);
	member_u64(fp, json, "steps", steps);
	if (count > 0)
		member_u64(fp, json, label, count);
	if (q->has_budget)
		member(fp, json, "budget", q->budget);
	fputs(json ? "}\n" : "\n", fp);
}

#define NCOLS 8
#define CELL 32

/* Column c of the report's table: the heading when r is NULL. */
static void
report_cell(char buf[CELL], int c, const struct fl_release *r,
    const struct fl_privacy *p, int given_eps)
{
	static const char *head[NCOLS] = { "release", "round", "mechanism",
		"q", "steps", "noise", "clients", "epsilon" };

	if (r == NULL)
		snprintf(buf, CELL, "%s", c == NCOLS - 1 && given_eps ?
		    "delta" : head[c]);
	else if (c == 0)
		snprintf(buf, CELL, "%llu", (unsigned long long)r->release);
	else if (c == 1 && r->round == FL_ROUND_NONE)
		snprintf(buf, CELL, "-");
	else if (c == 1)
		snprintf(buf, CELL, "%llu", (unsigned long long)r->round);
	else if (c == 2)
		snprintf(buf, CELL, "%s", fl_mechanism_name(r->mech));
	else if (c == 3)
		snprintf(buf, CELL, "%.6g", r->q);
	else if (c == 4)
		snprintf(buf, CELL, "%llu", (unsigned long long)r->steps);
	else if (c == 5)
		snprintf(buf, CELL, "%.6g", fl_release_noise(r));
	else if (c == 6 && r->clients > 0)
		snprintf(buf, CELL, "%llu", (unsigned long long)r->clients);
	else if (c == 6)
		snprintf(buf, CELL, "-");
	else
		snprintf(buf, CELL, "%.6g", given_eps ? p->delta :
		    p->epsilon);
}

/* The report's table, columns as wide as their widest cell. */
static void
report_table(FILE *fp, const struct fl_release *r, size_t n,
    const struct fl_privacy *p, int given_eps)
{
	size_t width[NCOLS] = { 0 };
	char buf[CELL];

	for (size_t i = 0; i <= n; i++)
		for (int c = 0; c < NCOLS; c++) {
			report_cell(buf, c, i ? &r[i - 1] : NULL,
			    i ? &p[i - 1] : NULL, given_eps);
			if (strlen(buf) > width[c])
				width[c] = strlen(buf);
		}
	for (size_t i = 0; i <= n; i++) {
		for (int c = 0; c < NCOLS; c++) {
			report_cell(buf, c, i ? &r[i - 1] : NULL,
			    i ? &p[i - 1] : NULL, given_eps);
			fprintf(fp, c == 2 ? "  %-*s" : c ? "  %*s" : "%*s",
			    (int)width[c], buf);
		}
		fputc('\n', fp);
	}
}

static void
report_json(FILE *fp, const struct fl_question *q, const struct fl_release *r,
    size_t n, const struct fl_privacy *p)
{
	fprintf(fp, "{\"accountant\":\"%s\"", fl_accountant_name(q->accountant));
	member(fp, 1, "epsilon", n ? (q->given_eps ? q->epsilon :
	    p[n - 1].epsilon) : 0);
	member(fp, 1, "delta", n && q->given_eps ? p[n - 1].delta :
	    q->delta);
	if (q->has_budget)
		member(fp, 1, "budget", q->budget);
	fputs(",\"releases\":[", fp);
	for (size_t i = 0; i < n; i++) {
		fprintf(fp, "%s{\"release\":%llu,\"round\":", i ? "," : "",
		    (unsigned long long)r[i].release);
		if (r[i].round == FL_ROUND_NONE)
			fputs("null", fp);
		else
			fprintf(fp, "%llu", (unsigned long long)r[i].round);
		fprintf(fp, ",\"mechanism\":\"%s\"",
		    fl_mechanism_name(r[i].mech));
		member(fp, 1, "q", r[i].q);
		member_u64(fp, 1, "steps", r[i].steps);
		member(fp, 1, "noise", fl_release_noise(&r[i]));
		if (r[i].clip > 0)
			member(fp, 1, "clip", r[i].clip);
		if (r[i].clients > 0)
			member_u64(fp, 1, "clients", r[i].clients);
		if (r[i].shares > 1)
			member_u64(fp, 1, "shares", r[i].shares);
		if (r[i].planned > 0)
			member(fp, 1, "planned-noise", r[i].planned);
		if (r[i].mech != FL_MECH_GAUSSIAN) {
			member(fp, 1, "sigma", r[i].sigma);
			member(fp, 1, "sensitivity", r[i].sens2);
			member_u64(fp, 1, "dim", r[i].dim);
		}
		if (q->given_eps)
			member(fp, 1, "delta", p[i].delta);
		else
			member(fp, 1, "epsilon", p[i].epsilon);
		if (!isnan(p[i].order))
			member(fp, 1, "order", p[i].order);
		fputc('}', fp);
	}
	fputs("]}\n", fp);
}

void
fl_report_write(FILE *fp, const struct fl_question *q,
    const struct fl_release *r, size_t n, const struct fl_privacy *p,
    int json)
{
	struct fl_privacy last = { q->given_eps ? q->epsilon : 0,
		q->given_eps ? 0 : q->delta, NAN, NAN };

	if (json) {
		report_json(fp, q, r, n, p);
		return;
	}
	report_table(fp, r, n, p, q->given_eps);
	fl_answer_write(fp, q, n ? &p[n - 1] : &last, NULL,
	    fl_release_steps(r, n), n, "releases", 0);
}

void
fl_curve_write(FILE *fp, const struct fl_question *q,
    const struct fl_privacy *p, const uint64_t *at, size_t n, int json)
{
	const char *asked = q->given_eps ? "epsilon" : "delta";
	const char *got = q->given_eps ? "delta" : "epsilon";

	if (json) {
		fprintf(fp, "{\"accountant\":\"%s\"",
		    fl_accountant_name(q->accountant));
		member(fp, 1, asked, q->given_eps ? q->epsilon : q->delta);
		fputs(",\"points\":[", fp);
	} else
		fprintf(fp, "steps %s\n", got);
	for (size_t i = 0; i < n; i++) {
		double v = q->given_eps ? p[i].delta : p[i].epsilon;

		if (!json) {
			fprintf(fp, "%llu %.6g\n", (unsigned long long)at[i], v);
			continue;
		}
		fprintf(fp, "%s{\"steps\":%llu", i ? "," : "",
		    (unsigned long long)at[i]);
		member(fp, 1, got, v);
		if (!isnan(p[i].order))
			member(fp, 1, "order", p[i].order);
		fputc('}', fp);
	}
	if (json)
		fputs("]}\n", fp);
}
