/* SPDX-License-Identifier: ISC */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

static const char *usage_text = "";
static struct tool_output *pending;     /* an -o file not yet committed */
/* Files finished but not yet renamed into place (tool_output_hold): a node
 * is whole before it is linked, so the signal handler may walk the list. */
struct held {
	struct fl_atomic atomic;
	struct held *next;
};
static struct held *volatile held_files;
static volatile sig_atomic_t in_signal;

static void
vmessage(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", program_invocation_short_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
tool_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
}

void
tool_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
	exit(1);
}

void
tool_usage_error(const char *fmt, ...)
{
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vmessage(fmt, ap);
		va_end(ap);
	}
	fprintf(stderr, "usage: %s\nTry '%s --help' for more information.\n",
	    usage_text, program_invocation_short_name);
	exit(2);
}

void
tool_version(void)
{
	printf("%s (fltools) %s\n", program_invocation_short_name, FL_VERSION);
	tool_output_close(NULL);
	exit(0);
}

void
tool_help(const char *options)
{
	printf("usage: %s\n\n%s", usage_text, options);
	tool_output_close(NULL);
	exit(0);
}

/* Remove an unfinished -o file however the program ends. */
static void
cleanup_at_exit(void)
{
	struct held *h;

	if (pending != NULL) {
		fl_atomic_abort(&pending->atomic);
		pending = NULL;
	}
	while ((h = held_files) != NULL) {
		held_files = h->next;
		fl_atomic_abort(&h->atomic);
		free(h);
	}
}

static void
cleanup_on_signal(int sig)
{
	if (!in_signal) {
		in_signal = 1;
		if (pending != NULL && pending->atomic.tmp != NULL)
			unlink(pending->atomic.tmp);
		for (struct held *h = held_files; h != NULL; h = h->next)
			unlink(h->atomic.tmp);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

void
tool_init(const char *usage, char **argv)
{
	usage_text = usage;
	argv[0] = program_invocation_short_name;
	atexit(cleanup_at_exit);
	/* A file-size limit (ulimit -f) is a failed write, as a full disk
	 * is, to report and clean up after; not a signal that kills
	 * mid-way. */
	signal(SIGXFSZ, SIG_IGN);
}

int
tool_options(int argc, char **argv, const struct tool_opt *table,
    void *dest, const char *help)
{
	struct option lo[TOOL_MAX_OPTIONS + 1];
	char shortopts[2 * TOOL_MAX_OPTIONS + 1];
	size_t n, k = 0;
	int c;

	for (n = 0; table[n].name != NULL; n++) {
		const struct tool_opt *t = &table[n];

		if (n == TOOL_MAX_OPTIONS)
			tool_die("more than %d options", TOOL_MAX_OPTIONS);
		/* A long-only option returns 256 + its row. */
		lo[n] = (struct option){ t->name, t->kind == TOOL_ARG ?
		    required_argument : no_argument, NULL,
		    t->letter ? t->letter : 256 + (int)n };
		if (t->letter) {
			shortopts[k++] = (char)t->letter;
			if (t->kind == TOOL_ARG)
				shortopts[k++] = ':';
		}
	}
	lo[n] = (struct option){ NULL, 0, NULL, 0 };
	shortopts[k] = '\0';
	while ((c = getopt_long(argc, argv, shortopts, lo, NULL)) != -1) {
		const struct tool_opt *t = NULL;

		if (c >= 256)
			t = &table[c - 256];
		for (size_t i = 0; t == NULL && i < n; i++)
			if (table[i].letter == c)
				t = &table[i];
		if (t == NULL)
			tool_usage_error(NULL);
		switch (t->kind) {
		case TOOL_ARG:
			*(const char **)(void *)((char *)dest + t->offset) =
			    optarg;
			break;
		case TOOL_FLAG:
			*(int *)(void *)((char *)dest + t->offset) = 1;
			break;
		case TOOL_HELP:
			tool_help(help);
		case TOOL_VERSION:
			tool_version();
		}
	}
	return optind;
}

double
tool_opt_double(const char *opt, const char *arg, double min, double max)
{
	struct fl_error err;
	double v;

	char q[FL_QUOTE];

	if (fl_parse_double(arg, min, max, &v, &err) < 0)
		tool_die("invalid %s '%s': %s", opt,
		    fl_escape(q, sizeof(q), arg, strlen(arg)), err.msg);
	return v;
}

uint64_t
tool_opt_u64(const char *opt, const char *arg, uint64_t min, uint64_t max)
{
	struct fl_error err;
	uint64_t v;

	char q[FL_QUOTE];

	if (fl_parse_u64(arg, min, max, &v, &err) < 0)
		tool_die("invalid %s '%s': %s", opt,
		    fl_escape(q, sizeof(q), arg, strlen(arg)), err.msg);
	return v;
}

double
tool_opt_positive(const char *opt, const char *arg)
{
	double v = tool_opt_double(opt, arg, -INFINITY, INFINITY);
	char q[FL_QUOTE];

	if (!(v > 0))
		tool_die("invalid %s '%s': must be positive", opt,
		    fl_escape(q, sizeof(q), arg, strlen(arg)));
	return v;
}

enum fl_dtype
tool_opt_dtype(const char *opt, const char *arg)
{
	enum fl_dtype dt;
	char q[FL_QUOTE];

	if (fl_dtype_parse(arg, strlen(arg), &dt) < 0 || !fl_dtype_is_float(dt))
		tool_die("invalid %s '%s': a float dtype (f32, f64, f16 or "
		    "bf16)", opt, fl_escape(q, sizeof(q), arg, strlen(arg)));
	return dt;
}

int
tool_select_option(int c, const char *arg, struct fl_select *sel)
{
	struct fl_error err;

	if (c != TOOL_OPT_ONLY && c != TOOL_OPT_EXCLUDE)
		return 0;
	if (fl_select_add(sel, c == TOOL_OPT_EXCLUDE, arg, &err) < 0)
		tool_die("%s", err.msg);
	return 1;
}

void
tool_select_check(const struct fl_select *sel, const struct fl_record *rec,
    const char *name, unsigned long recno, const char *const *keep)
{
	struct fl_error err;

	if (fl_select_check(sel, rec, keep, &err) < 0)
		tool_die("%s: record %lu: %s", name, recno, err.msg);
}

void
tool_json_string(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(fp, "\\%c", c);
		else if (c < 0x20)
			fprintf(fp, "\\u%04x", c);
		else
			fputc(c, fp);
	}
	fputc('"', fp);
}

void *
tool_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		tool_die("out of memory");
	return p;
}

void
tool_input_init(struct tool_input *in, int nfiles, char **files)
{
	const char *env = getenv("FL_MAX_PAYLOAD");
	static char *dash[] = { "-" };

	memset(in, 0, sizeof(*in));
	in->files = nfiles > 0 ? files : dash;
	in->nfiles = nfiles > 0 ? nfiles : 1;
	in->limits.max_payload = FL_DEFAULT_MAX_PAYLOAD;
	if (env != NULL && *env != '\0')
		in->limits.max_payload = tool_opt_u64("FL_MAX_PAYLOAD", env, 0,
		    UINT64_MAX);
}

/* A 1 MiB pipe buffer instead of 64 KiB: 16 times fewer context switches
 * between the writer and us for large records.  Best effort. */
static void
widen_pipe(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
		(void)fcntl(fd, F_SETPIPE_SZ, 1 << 20);
}

static void
input_close(struct tool_input *in)
{
	if (in->fp != NULL && in->fp != stdin)
		fclose(in->fp);
	in->fp = NULL;
}

static int
input_next(struct tool_input *in, struct fl_record *rec,
    const struct fl_stream *fs)
{
	struct fl_error err;
	int rc;

	for (;;) {
		if (in->fp == NULL) {
			const char *path;

			if (in->next >= in->nfiles)
				return 0;
			path = in->files[in->next++];
			in->recno = 0;
			in->pos = 0;
			if (strcmp(path, "-") == 0) {
				in->fp = stdin;
				in->name = "<stdin>";
				widen_pipe(STDIN_FILENO);
			} else if ((in->fp = fopen(path, "rb")) == NULL) {
				in->failed = 1;
				tool_warn("%s: %s", path, strerror(errno));
				return -1;
			} else {
				in->name = path;
			}
		}
		/* The record about to be read is the current one, so that a
		 * stream's callbacks can name it. */
		in->recno++;
		in->offset = in->pos;
		rc = fs != NULL ? fl_record_read_stream(rec, in->fp,
		    &in->limits, fs, &err) :
		    fl_record_read(rec, in->fp, &in->limits, &err);
		if (rc == 1) {
			in->pos += rec->size;
			return 1;
		}
		if (rc < 0) {
			in->failed = 1;
			tool_warn("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
			input_close(in);
			return -1;
		}
		in->recno--;
		input_close(in);
	}
}

int
tool_input_next(struct tool_input *in, struct fl_record *rec)
{
	return input_next(in, rec, NULL);
}

int
tool_input_next_stream(struct tool_input *in, struct fl_record *rec,
    const struct fl_stream *fs)
{
	return input_next(in, rec, fs);
}

void
tool_input_free(struct tool_input *in)
{
	input_close(in);
}

void
tool_output_open(struct tool_output *out, const char *path, int binary)
{
	struct fl_error err;

	memset(out, 0, sizeof(*out));
	if (path == NULL || strcmp(path, "-") == 0) {
		if (binary && isatty(STDOUT_FILENO))
			tool_die("refusing to write binary records to a "
			    "terminal (use -o FILE or a pipe)");
		out->fp = stdout;
		out->name = "<stdout>";
		return;
	}
	/* A device or a FIFO (-o /dev/null, a named pipe) is written in
	 * place: renaming a file over it would replace it, and atomicity
	 * means nothing there. */
	{
		struct stat st;

		if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
			if (S_ISDIR(st.st_mode))
				tool_die("%s: is a directory", path);
			if ((out->fp = fopen(path, "wb")) == NULL)
				tool_die("%s: %s", path, strerror(errno));
			/* -o /dev/tty, -o /dev/stdout on a terminal: the
			 * same refusal as a bare stdout, whatever the path. */
			if (binary && isatty(fileno(out->fp)))
				tool_die("%s: refusing to write binary records "
				    "to a terminal (use -o FILE or a pipe)",
				    path);
			out->name = path;
			out->is_device = 1;
			return;
		}
	}
	if (fl_atomic_open(&out->atomic, path, 0666, &err) < 0)
		tool_die("%s: %s", path, err.msg);
	out->fp = out->atomic.fp;
	out->name = path;
	out->is_file = 1;
	pending = out;
	signal(SIGINT, cleanup_on_signal);
	signal(SIGTERM, cleanup_on_signal);
	signal(SIGHUP, cleanup_on_signal);
}

static _Noreturn void
write_failed(const char *name, int e)
{
	/* A closed pipe is the reader's choice, not our failure to report. */
	if (e == EPIPE)
		exit(1);
	tool_die("%s: %s", name, strerror(e));
}

void
tool_output_record(struct tool_output *out, const struct fl_record *rec,
    int zlevel)
{
	struct fl_error err;

	if (fl_record_write(out->fp, rec, zlevel, &err) < 0) {
		if (err.code == FL_EIO)
			write_failed(out->name, errno);
		tool_die("%s: %s", out->name, err.msg);
	}
}

/* NULL closes stdout alone: every program ends through here, so a failed
 * final flush (a full disk, /dev/full) is an error, not silent data loss. */
void
tool_output_close(struct tool_output *out)
{
	struct fl_error err;

	if (out != NULL && out->is_device) {
		if (fclose(out->fp) != 0)
			write_failed(out->name, errno);
		out->is_device = 0;
	}
	if (out != NULL && out->is_file) {
		pending = NULL;
		if (fl_atomic_commit(&out->atomic, &err) < 0)
			tool_die("%s: %s", out->name, err.msg);
		out->is_file = 0;
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		write_failed("<stdout>", errno ? errno : EIO);
}

void
tool_output_hold(struct tool_output *out)
{
	struct fl_error err;
	struct held *h;

	if (!out->is_file) {
		tool_output_close(out);
		return;
	}
	h = tool_malloc(sizeof(*h));
	pending = NULL;
	out->is_file = 0;
	if (fl_atomic_finish(&out->atomic, &err) < 0) {
		free(h);
		tool_die("%s: %s", out->name, err.msg);
	}
	h->atomic = out->atomic;
	h->next = held_files;
	held_files = h;
}

void
tool_output_place_held(void)
{
	struct fl_error err;
	struct held *h;

	while ((h = held_files) != NULL) {
		/* the name, for the message: a failed place frees it */
		char *name = strdup(h->atomic.path);

		if (fl_atomic_place(&h->atomic, &err) < 0) {
			held_files = h->next;
			free(h);
			tool_die("%s: %s", name ? name : "output", err.msg);
		}
		held_files = h->next;
		free(h);
		free(name);
	}
}

int
tool_meta_double(const struct fl_record *rec, const struct tool_input *in,
    const char *key, double min, double max, double *out)
{
	struct fl_error err;
	int found = fl_meta_double(rec, key, min, max, out, &err);

	if (found < 0)
		tool_die("%s: record %lu: %s", in->name, in->recno, err.msg);
	return found;
}

int
tool_meta_u64(const struct fl_record *rec, const struct tool_input *in,
    const char *key, uint64_t min, uint64_t max, uint64_t *out)
{
	struct fl_error err;
	int found = fl_meta_u64(rec, key, min, max, out, &err);

	if (found < 0)
		tool_die("%s: record %lu: %s", in->name, in->recno, err.msg);
	return found;
}

void
tool_read_one(const char *path, struct fl_record *rec)
{
	struct tool_input in;
	struct fl_record extra;
	char *files[1] = { (char *)path };
	int rc;

	tool_input_init(&in, 1, files);
	if ((rc = tool_input_next(&in, rec)) < 0)
		exit(1);
	if (rc == 0)
		tool_die("%s: no record", in.name);
	/* A second record would be silently ignored: which one was meant? */
	fl_record_init(&extra);
	if ((rc = tool_input_next(&in, &extra)) < 0)
		exit(1);
	if (rc == 1)
		tool_die("%s: record 2: more than one record (the file holds "
		    "one)", in.name);
	fl_record_free(&extra);
	tool_input_free(&in);
}
