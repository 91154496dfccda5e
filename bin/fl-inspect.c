/* SPDX-License-Identifier: ISC */
/*
 * fl-inspect - look at FLT records by hand: preamble, metadata and tensor
 * statistics; validate; dump one tensor; compare two streams.
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

static const char usage[] =
    "fl-inspect [-c | -j | -d name | -g key | --privacy] [-o file]\n"
    "           [file ...]\n"
    "       fl-inspect --diff [-j] [--tolerance=t] [-o file] a b";

static const char options[] =
    "Show FLT records: the preamble, the metadata and, per tensor, dtype,\n"
    "shape, min, max, mean, std, L2 norm, zeros and non-finite values\n"
    "(statistics cover the finite values).\n"
    "\n"
    "  -c, --check            validate only: print nothing, exit 1 if any\n"
    "                         record is invalid\n"
    "  -d, --dump=NAME        print the values of tensor NAME: a vector one\n"
    "                         per line, else one comma-separated line per\n"
    "                         row of the last dimension\n"
    "      --diff             compare two record streams: per tensor, the\n"
    "                         max absolute and max relative difference\n"
    "  -g, --get=KEY          print the value of metadata KEY per record\n"
    "  -h, --help             print this help and exit\n"
    "  -j, --json             JSON Lines: an object per record, or per\n"
    "                         tensor when comparing\n"
    "  -o, --output=FILE      write to FILE atomically instead of stdout\n"
    "      --privacy          per key and tensor, what protects it when the\n"
    "                         record leaves a device: public (the same for\n"
    "                         every client), noised (DP), masked, or\n"
    "                         nothing\n"
    "      --tolerance=T      with --diff: exit 1 if an absolute difference\n"
    "                         is above T\n"
    "  -V, --version          print the version and exit\n"
    "\n"
    "Environment: FL_MAX_PAYLOAD caps a record's payload in bytes "
    "(default 4 GiB).\n";

enum mode { SHOW, CHECK, DUMP, GET, DIFF, PRIVACY };

struct opts {
	enum mode mode;
	int json;
	const char *name;       /* --dump tensor or --get key */
	double tolerance;       /* --diff; negative: none */
};

/* ---- value formatting ---- */

/* Exact text of element i: integers in full, floats round-tripping. */
static void
print_value(FILE *fp, const struct fl_tensor *t, uint64_t i)
{
	char buf[FL_NUMBUF];

	switch (t->dtype) {
	case FL_F32:
		fputs(fl_format_float(buf, ((const float *)t->data)[i]), fp);
		break;
	case FL_F64:
		fputs(fl_format_double(buf, ((const double *)t->data)[i]), fp);
		break;
	case FL_F16:
	case FL_BF16:
		fputs(fl_format_half(buf, t->dtype,
		    ((const uint16_t *)t->data)[i]), fp);
		break;
	case FL_I64:
		fprintf(fp, "%lld", (long long)((const int64_t *)t->data)[i]);
		break;
	case FL_U64:
		fprintf(fp, "%llu",
		    (unsigned long long)((const uint64_t *)t->data)[i]);
		break;
	default:
		/* Every 8-32 bit integer is exact in a double. */
		fprintf(fp, "%.0f", fl_tensor_get(t, i));
		break;
	}
}

/* min/max as text: exact for integers, 6 digits for floats. */
static void
format_extreme(char *buf, size_t n, const struct fl_tensor *t,
    const struct fl_stats *st, int max)
{
	if (st->finite == 0)
		snprintf(buf, n, "-");
	else if (fl_dtype_is_signed_int(t->dtype))
		snprintf(buf, n, "%lld", (long long)(max ? st->imax : st->imin));
	else if (!fl_dtype_is_float(t->dtype))
		snprintf(buf, n, "%llu",
		    (unsigned long long)(max ? st->umax : st->umin));
	else
		snprintf(buf, n, "%.6g", max ? st->max : st->min);
}

/* ---- the default view ---- */

#define NCOLS 11

static void
show_text(FILE *fp, const struct tool_input *in, const struct fl_record *rec)
{
	static const char *head[NCOLS] = { "tensor", "dtype", "shape", "min",
		"max", "mean", "std", "l2", "zeros", "nonfinite", NULL };
	char (*cell)[NCOLS][48];
	size_t width[NCOLS] = { 0 };
	const struct fl_preamble *p = &rec->pre;

	fprintf(fp, "%s: record %lu: %llu bytes at offset %llu\n", in->name,
	    in->recno, (unsigned long long)rec->size,
	    (unsigned long long)in->offset);
	fprintf(fp, "  version %u  flags 0x%02x  header %u  payload %llu",
	    p->version, p->flags, p->hlen, (unsigned long long)p->plen);
	if (p->flags & FL_FLAG_ZLIB)
		fprintf(fp, " (zlib, %zu raw)", rec->rawlen);
	fprintf(fp, "  pcrc %08x  hcrc %08x\n", p->pcrc, p->hcrc);
	for (size_t i = 0; i < rec->nmeta; i++)
		fprintf(fp, "  %s=%s\n", rec->meta[i].key, rec->meta[i].value);
	if (rec->ntensors == 0)
		return;

	/* A table: every cell formatted first, then columns padded. */
	cell = tool_malloc((rec->ntensors + 1) * sizeof(*cell));
	for (int c = 0; c < NCOLS - 1; c++)
		snprintf(cell[0][c], sizeof(cell[0][c]), "%s", head[c]);
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		char (*row)[48] = cell[i + 1];
		struct fl_stats st;

		fl_tensor_stats(t, &st);
		snprintf(row[0], 48, "%.47s", t->name);
		snprintf(row[1], 48, "%s", fl_dtype_name(t->dtype));
		if (fl_shape_format(row[2], 48, t->rank, t->dims) >= 48)
			snprintf(row[2] + 40, 8, "...]");
		format_extreme(row[3], 48, t, &st, 0);
		format_extreme(row[4], 48, t, &st, 1);
		snprintf(row[5], 48, "%.6g", st.mean);
		snprintf(row[6], 48, "%.6g", st.std);
		snprintf(row[7], 48, "%.6g", st.l2);
		snprintf(row[8], 48, "%llu", (unsigned long long)st.zeros);
		snprintf(row[9], 48, "%llu", (unsigned long long)st.nonfinite);
	}
	for (size_t r = 0; r <= rec->ntensors; r++)
		for (int c = 0; c < NCOLS - 1; c++)
			if (strlen(cell[r][c]) > width[c])
				width[c] = strlen(cell[r][c]);
	for (size_t r = 0; r <= rec->ntensors; r++) {
		fputs(" ", fp);
		for (int c = 0; c < NCOLS - 1; c++) {
			/* Names and words left, numbers right. */
			if (c < 3)
				fprintf(fp, " %-*s", (int)width[c], cell[r][c]);
			else
				fprintf(fp, " %*s", (int)width[c], cell[r][c]);
		}
		fputc('\n', fp);
	}
	free(cell);
}

static void
show_json(FILE *fp, const struct tool_input *in, const struct fl_record *rec)
{
	const struct fl_preamble *p = &rec->pre;

	fputs("{\"file\":", fp);
	tool_json_string(fp, in->name);
	fprintf(fp, ",\"record\":%lu,\"offset\":%llu,\"size\":%llu,"
	    "\"version\":%u,\"flags\":%u,\"zlib\":%s,\"header_bytes\":%u,"
	    "\"payload_bytes\":%llu,\"raw_bytes\":%zu,\"pcrc\":\"%08x\","
	    "\"hcrc\":\"%08x\",\"meta\":{", in->recno,
	    (unsigned long long)in->offset, (unsigned long long)rec->size,
	    p->version, p->flags, p->flags & FL_FLAG_ZLIB ? "true" : "false",
	    p->hlen, (unsigned long long)p->plen, rec->rawlen, p->pcrc,
	    p->hcrc);
	for (size_t i = 0; i < rec->nmeta; i++) {
		if (i)
			fputc(',', fp);
		tool_json_string(fp, rec->meta[i].key);
		fputc(':', fp);
		tool_json_string(fp, rec->meta[i].value);
	}
	fputs("},\"tensors\":[", fp);
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		struct fl_stats st;

		fl_tensor_stats(t, &st);
		fputs(i ? ",{\"name\":" : "{\"name\":", fp);
		tool_json_string(fp, t->name);
		fprintf(fp, ",\"dtype\":\"%s\",\"shape\":[",
		    fl_dtype_name(t->dtype));
		for (int d = 0; d < t->rank; d++)
			fprintf(fp, "%s%llu", d ? "," : "",
			    (unsigned long long)t->dims[d]);
		fprintf(fp, "],\"numel\":%llu,\"offset\":%zu,\"bytes\":%zu,"
		    "\"min\":", (unsigned long long)t->numel, t->offset,
		    t->nbytes);
		if (st.finite > 0 && fl_dtype_is_signed_int(t->dtype))
			fprintf(fp, "%lld,\"max\":%lld", (long long)st.imin,
			    (long long)st.imax);
		else if (st.finite > 0 && !fl_dtype_is_float(t->dtype))
			fprintf(fp, "%llu,\"max\":%llu",
			    (unsigned long long)st.umin,
			    (unsigned long long)st.umax);
		else {
			fl_json_number(fp, st.min);
			fputs(",\"max\":", fp);
			fl_json_number(fp, st.max);
		}
		fputs(",\"mean\":", fp);
		fl_json_number(fp, st.mean);
		fputs(",\"std\":", fp);
		fl_json_number(fp, st.std);
		fputs(",\"l2\":", fp);
		fl_json_number(fp, st.l2);
		fprintf(fp, ",\"zeros\":%llu,\"nonfinite\":%llu}",
		    (unsigned long long)st.zeros,
		    (unsigned long long)st.nonfinite);
	}
	fputs("]}\n", fp);
}

/* Rows of the last dimension, comma-separated; a vector one per line. */
static void
dump(FILE *fp, const struct fl_tensor *t)
{
	uint64_t cols = t->rank >= 2 ? t->dims[t->rank - 1] : 1;

	for (uint64_t i = 0; i < t->numel; i++) {
		print_value(fp, t, i);
		fputc((i + 1) % cols == 0 ? '\n' : ',', fp);
	}
}

/*
 * --privacy: what protects each part of a record once it leaves a device.
 * Metadata is public when the release policy lets it travel beside masked
 * values (lib/privacy/release.c); anything else is in clear.  Tensors are noised
 * when the record says which mechanism noised them (dp.mechanism), except
 * adaptive clipping's indicator, which the server noises after the sum;
 * masked when mask=secagg.
 */
static void
show_privacy(FILE *fp, const struct tool_input *in,
    const struct fl_record *rec)
{
	size_t width = 6;

	for (size_t i = 0; i < rec->nmeta; i++)
		if (strlen(rec->meta[i].key) > width)
			width = strlen(rec->meta[i].key);
	for (size_t i = 0; i < rec->ntensors; i++)
		if (strlen(rec->tensors[i].name) + 7 > width)
			width = strlen(rec->tensors[i].name) + 7;
	fprintf(fp, "%s: record %lu: privacy\n", in->name, in->recno);
	for (size_t i = 0; i < rec->nmeta; i++) {
		const char *key = rec->meta[i].key, *why;

		if (fl_release_key_public(rec, key, &why))
			fprintf(fp, "  %-*s  public\n", (int)width, key);
		else
			fprintf(fp, "  %-*s  IN CLEAR: %s\n", (int)width, key,
			    why ? why : "may depend on the data");
	}
	for (size_t i = 0; i < rec->ntensors; i++) {
		struct fl_protection p;

		fl_release_protection(rec, rec->tensors[i].name, &p);
		fprintf(fp, "  tensor %-*s  ", (int)width - 7,
		    rec->tensors[i].name);
		if (p.server_noised)
			fputs("noised by the server after the sum (--adapt)", fp);
		else if (p.weak_share)
			fprintf(fp, "noised (%s), a 1/%s share: weak until "
			    "masked", p.mechanism, p.shares);
		else if (p.mechanism != NULL)
			fprintf(fp, "noised (%s)", p.mechanism);
		else
			fputs("not noised", fp);
		if (p.masked)
			fputs(", masked", fp);
		else if (p.in_clear)
			fputs(", IN CLEAR", fp);
		fputc('\n', fp);
	}
}

static int
run_stream(const struct opts *o, int nfiles, char **files, FILE *fp)
{
	struct tool_input in;
	struct fl_record rec;
	int rc, status = 0;

	fl_record_init(&rec);
	tool_input_init(&in, nfiles, files);
	while ((rc = tool_input_next(&in, &rec)) != 0) {
		const struct fl_tensor *t;
		const char *v;

		if (rc < 0)
			continue;
		switch (o->mode) {
		case CHECK:
			break;
		case DUMP:
			if ((t = fl_tensor_find(&rec, o->name)) == NULL) {
				tool_warn("%s: record %lu: no tensor '%s'",
				    in.name, in.recno, o->name);
				status = 1;
				break;
			}
			dump(fp, t);
			break;
		case GET:
			if ((v = fl_meta_get(&rec, o->name)) == NULL) {
				tool_warn("%s: record %lu: no metadata key "
				    "'%s'", in.name, in.recno, o->name);
				status = 1;
				break;
			}
			fprintf(fp, "%s\n", v);
			break;
		case PRIVACY:
			show_privacy(fp, &in, &rec);
			break;
		default:
			if (o->json)
				show_json(fp, &in, &rec);
			else
				show_text(fp, &in, &rec);
			break;
		}
	}
	fl_record_free(&rec);
	tool_input_free(&in);
	return status || in.failed;
}

/* ---- --diff ---- */

struct diff {
	double max_abs, max_rel;
};

/* Element i of an integer tensor, exactly (64-bit values do not fit a
 * double: 2^64-1 and 2^64-2 would compare equal). */
static __int128
int_value(const struct fl_tensor *t, uint64_t i)
{
	if (t->dtype == FL_I64)
		return ((const int64_t *)t->data)[i];
	if (t->dtype == FL_U64)
		return ((const uint64_t *)t->data)[i];
	return (__int128)fl_tensor_get(t, i);
}

static struct diff
diff_ints(const struct fl_tensor *a, const struct fl_tensor *b)
{
	struct diff d = { 0, 0 };

	for (uint64_t i = 0; i < a->numel; i++) {
		__int128 x = int_value(a, i), y = int_value(b, i);
		__int128 ad = x > y ? x - y : y - x;
		__int128 m = x < 0 ? -x : x, my = y < 0 ? -y : y;
		double rel;

		if (ad == 0)
			continue;
		if (my > m)
			m = my;
		rel = (double)ad / (double)m;
		if ((double)ad > d.max_abs)
			d.max_abs = (double)ad;
		if (rel > d.max_rel)
			d.max_rel = rel;
	}
	return d;
}

static struct diff
diff_tensor(const struct fl_tensor *a, const struct fl_tensor *b)
{
	struct diff d = { 0, 0 };

	if (!fl_dtype_is_float(a->dtype))
		return diff_ints(a, b);
	for (uint64_t i = 0; i < a->numel; i++) {
		double x = fl_tensor_get(a, i), y = fl_tensor_get(b, i);
		double ad, m;

		if ((isnan(x) && isnan(y)) || x == y)
			continue;
		ad = fabs(x - y);
		if (isnan(ad))
			ad = INFINITY;
		m = fmax(fabs(x), fabs(y));
		if (ad > d.max_abs)
			d.max_abs = ad;
		if (ad / m > d.max_rel || isnan(ad / m))
			d.max_rel = isnan(ad / m) ? INFINITY : ad / m;
	}
	return d;
}

static int
same_shape(const struct fl_tensor *a, const struct fl_tensor *b)
{
	if (a->dtype != b->dtype || a->rank != b->rank)
		return 0;
	for (int i = 0; i < a->rank; i++)
		if (a->dims[i] != b->dims[i])
			return 0;
	return 1;
}

/* Metadata present in either record whose values differ. */
static void
diff_meta(FILE *fp, const struct opts *o, unsigned long recno,
    const struct fl_record *a, const struct fl_record *b)
{
	size_t i = 0, j = 0;

	while (i < a->nmeta || j < b->nmeta) {
		int c = i == a->nmeta ? 1 : j == b->nmeta ? -1 :
		    strcmp(a->meta[i].key, b->meta[j].key);
		const char *key = c <= 0 ? a->meta[i].key : b->meta[j].key;
		const char *va = c <= 0 ? a->meta[i].value : NULL;
		const char *vb = c >= 0 ? b->meta[j].value : NULL;

		if (va == NULL || vb == NULL || strcmp(va, vb) != 0) {
			if (o->json) {
				fprintf(fp, "{\"record\":%lu,\"meta\":", recno);
				tool_json_string(fp, key);
				fputs(",\"a\":", fp);
				va ? tool_json_string(fp, va) : (void)fputs("null",
				    fp);
				fputs(",\"b\":", fp);
				vb ? tool_json_string(fp, vb) : (void)fputs("null",
				    fp);
				fputs("}\n", fp);
			} else {
				fprintf(fp, "record %lu: meta %s: %s%s%s vs "
				    "%s%s%s\n", recno, key, va ? "'" : "",
				    va ? va : "(absent)", va ? "'" : "",
				    vb ? "'" : "", vb ? vb : "(absent)",
				    vb ? "'" : "");
			}
		}
		i += c <= 0;
		j += c >= 0;
	}
}

static int
diff_records(FILE *fp, const struct opts *o, const struct tool_input *ia,
    const struct tool_input *ib, const struct fl_record *a,
    const struct fl_record *b)
{
	int status = 0;

	diff_meta(fp, o, ia->recno, a, b);
	for (size_t i = 0; i < b->ntensors; i++)
		if (fl_tensor_find(a, b->tensors[i].name) == NULL) {
			tool_warn("%s: record %lu: no tensor '%s' (it is in "
			    "%s)", ia->name, ia->recno, b->tensors[i].name,
			    ib->name);
			status = 1;
		}
	for (size_t i = 0; i < a->ntensors; i++) {
		const struct fl_tensor *ta = &a->tensors[i], *tb;
		char sa[200], sb[200];
		struct diff d;

		if ((tb = fl_tensor_find(b, ta->name)) == NULL) {
			tool_warn("%s: record %lu: no tensor '%s' (it is in "
			    "%s)", ib->name, ib->recno, ta->name, ia->name);
			status = 1;
			continue;
		}
		if (!same_shape(ta, tb)) {
			fl_shape_format(sa, sizeof(sa), ta->rank, ta->dims);
			fl_shape_format(sb, sizeof(sb), tb->rank, tb->dims);
			tool_warn("%s: record %lu: tensor '%s' is %s %s, in %s "
			    "%s %s", ia->name, ia->recno, ta->name,
			    fl_dtype_name(ta->dtype), sa, ib->name,
			    fl_dtype_name(tb->dtype), sb);
			status = 1;
			continue;
		}
		d = diff_tensor(ta, tb);
		if (o->json) {
			fprintf(fp, "{\"record\":%lu,\"tensor\":", ia->recno);
			tool_json_string(fp, ta->name);
			fputs(",\"max_abs\":", fp);
			fl_json_number(fp, d.max_abs);
			fputs(",\"max_rel\":", fp);
			fl_json_number(fp, d.max_rel);
			fputs("}\n", fp);
		} else {
			fprintf(fp, "record %lu: tensor %s: max abs %.6g, "
			    "max rel %.6g\n", ia->recno, ta->name, d.max_abs,
			    d.max_rel);
		}
		if (o->tolerance >= 0 && !(d.max_abs <= o->tolerance)) {
			tool_warn("%s: record %lu: tensor '%s' differs from %s "
			    "by %g, above the tolerance %g", ia->name,
			    ia->recno, ta->name, ib->name, d.max_abs,
			    o->tolerance);
			status = 1;
		}
	}
	return status;
}

static int
run_diff(const struct opts *o, char **files, FILE *fp)
{
	struct tool_input ia, ib;
	struct fl_record a, b;
	int status = 0;

	fl_record_init(&a);
	fl_record_init(&b);
	tool_input_init(&ia, 1, files);
	tool_input_init(&ib, 1, files + 1);
	for (;;) {
		int ra = tool_input_next(&ia, &a);
		int rb = ra < 0 ? 0 : tool_input_next(&ib, &b);

		if (ra < 0 || rb < 0) {
			status = 1;
			break;
		}
		if (ra == 0 && rb == 0)
			break;
		if (ra == 0 || rb == 0) {
			tool_warn("%s: record %lu: %s has no record %lu",
			    ra ? ia.name : ib.name, ra ? ia.recno : ib.recno,
			    ra ? ib.name : ia.name, ra ? ia.recno : ib.recno);
			status = 1;
			break;
		}
		status |= diff_records(fp, o, &ia, &ib, &a, &b);
	}
	fl_record_free(&a);
	fl_record_free(&b);
	tool_input_free(&ia);
	tool_input_free(&ib);
	return status;
}

int
main(int argc, char **argv)
{
	enum { OPT_DIFF = 256, OPT_PRIVACY, OPT_TOLERANCE };
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ "dump", required_argument, NULL, 'd' },
		{ "diff", no_argument, NULL, OPT_DIFF },
		{ "get", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "privacy", no_argument, NULL, OPT_PRIVACY },
		{ "tolerance", required_argument, NULL, OPT_TOLERANCE },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = { SHOW, 0, NULL, -1 };
	struct tool_output out;
	const char *output = NULL;
	int c, status, nmodes = 0;

	tool_init(usage, argv);
	while ((c = getopt_long(argc, argv, "cd:g:hjo:V", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'c':
			o.mode = CHECK;
			nmodes++;
			break;
		case 'd':
			o.mode = DUMP;
			o.name = optarg;
			nmodes++;
			break;
		case OPT_DIFF:
			o.mode = DIFF;
			nmodes++;
			break;
		case 'g':
			o.mode = GET;
			o.name = optarg;
			nmodes++;
			break;
		case 'h':
			tool_help(options);
		case 'j':
			o.json = 1;
			break;
		case 'o':
			output = optarg;
			break;
		case OPT_PRIVACY:
			o.mode = PRIVACY;
			nmodes++;
			break;
		case OPT_TOLERANCE:
			o.tolerance = tool_opt_double("--tolerance", optarg, 0,
			    INFINITY);
			break;
		case 'V':
			tool_version();
		default:
			tool_usage_error(NULL);
		}
	}
	argc -= optind;
	argv += optind;
	if (nmodes > 1)
		tool_usage_error("--check, --dump, --diff, --get and --privacy "
		    "are mutually exclusive");
	if (o.json && o.mode != SHOW && o.mode != DIFF)
		tool_usage_error("--json goes with the default view or --diff");
	if (o.tolerance >= 0 && o.mode != DIFF)
		tool_usage_error("--tolerance needs --diff");
	if (o.mode == DIFF && argc != 2)
		tool_usage_error("--diff compares exactly two inputs");
	if (o.mode == DIFF && strcmp(argv[0], "-") == 0 &&
	    strcmp(argv[1], "-") == 0)
		tool_usage_error("--diff: only one input can be stdin");

	tool_output_open(&out, output, 0);
	if (o.mode == DIFF)
		status = run_diff(&o, argv, out.fp);
	else
		status = run_stream(&o, argc, argv, out.fp);
	/* On stdout the report of the valid records stands, and the status
	 * says the rest; an -o file is all or nothing (removed at exit). */
	if (status != 0 && out.is_file)
		exit(1);
	tool_output_close(&out);
	return status;
}
