/* SPDX-License-Identifier: ISC */
/*
 * tool.h - what every fl-* program shares: messages in the one shape
 * "fl-x: FILE: record N: problem", exit statuses (0 ok, 1 failure, 2 usage),
 * strict option values, the record input loop and checked output.
 * Unlike libfl, this layer prints and exits: it is the programs' half.
 */
#ifndef FL_TOOL_H
#define FL_TOOL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../lib/fl.h"

/* Called first by every program: usage is the text after "usage: " (may
 * span lines); argv[0] becomes the program's name, which getopt puts
 * before its messages (not the path it was run by). */
void tool_init(const char *usage, char **argv);

_Noreturn void tool_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
_Noreturn void tool_die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void tool_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void tool_version(void);
/* Print "usage: ..." and the option lines to stdout; exit 0. */
_Noreturn void tool_help(const char *options);

/*
 * Options from a table: one row per option, the last row's name NULL.
 * getopt_long's long options and short-option string are built from the
 * rows, in their order (the order getopt_long lists an ambiguous
 * abbreviation's possibilities in).  Each option found stores into the
 * caller's struct dest, at its row's offset: TOOL_ARG the argument as a
 * const char * (the last one given wins), TOOL_FLAG the int 1; TOOL_HELP
 * is tool_help(help), TOOL_VERSION tool_version().  Values are left as
 * strings for the program to convert after the loop, so that --help wins
 * over a bad value anywhere.  An unknown option or a missing argument is
 * a usage error (getopt_long's message, then tool_usage_error).  Returns
 * the index in argv of the first operand.  At most TOOL_MAX_OPTIONS rows.
 */
enum tool_opt_kind { TOOL_ARG, TOOL_FLAG, TOOL_HELP, TOOL_VERSION };

struct tool_opt {
	const char *name;       /* long name, without the "--" */
	int letter;             /* short option, or 0: long only */
	enum tool_opt_kind kind;
	size_t offset;          /* TOOL_ARG, TOOL_FLAG: where in dest */
};

#define TOOL_MAX_OPTIONS 64
/* A row storing into the member field of struct type. */
#define TOOL_OPT(name, letter, kind, type, field) \
	{ (name), (letter), (kind), offsetof(type, field) }

int tool_options(int argc, char **argv, const struct tool_opt *table,
    void *dest, const char *help);

/* Option values: on a bad value, "invalid --opt 'x': why", exit 1. */
double tool_opt_double(const char *opt, const char *arg, double min,
    double max);
uint64_t tool_opt_u64(const char *opt, const char *arg, uint64_t min,
    uint64_t max);
/* A number above 0: "invalid --opt 'x': must be positive", exit 1. */
double tool_opt_positive(const char *opt, const char *arg);

/* --dtype (the outputs' float dtype, fl_record_cast): a float dtype,
 * else "invalid --dtype 'x': ...", exit 1. */
enum fl_dtype tool_opt_dtype(const char *opt, const char *arg);

/*
 * --only and --exclude (fl_select: glob patterns on tensor names), shared
 * by the programs that change values: TOOL_SELECT_LONGOPTS in their
 * getopt_long table, and tool_select_option for each option getopt_long
 * returns (1 when it was one of these two; a bad pattern is fatal:
 * "invalid --only 'x': why", exit 1).  tool_select_check makes
 * fl_select_check on the record just read: "FILE: record N: why", exit 1.
 */
enum { TOOL_OPT_ONLY = 0x4f00, TOOL_OPT_EXCLUDE };
#define TOOL_SELECT_LONGOPTS \
	{ "exclude", required_argument, NULL, TOOL_OPT_EXCLUDE }, \
	{ "only", required_argument, NULL, TOOL_OPT_ONLY }

int tool_select_option(int c, const char *arg, struct fl_select *sel);
void tool_select_check(const struct fl_select *sel,
    const struct fl_record *rec, const char *name, unsigned long recno,
    const char *const *keep);

/* JSON output: a string with the escapes JSON needs (numbers:
 * fl_json_number). */
void tool_json_string(FILE *fp, const char *s);

/*
 * The input: file operands read in order as one record stream; none, or
 * "-", is standard input.  tool_input_next returns 1 with a record, 0 at the
 * end of all input, or -1 after printing why the current file failed (the
 * next call goes on with the next file; in->failed stays set).
 */
struct tool_input {
	char **files;
	int nfiles;
	int next;
	FILE *fp;
	const char *name;       /* current file, "<stdin>" for stdin */
	unsigned long recno;    /* records read so far from the file */
	uint64_t offset;        /* where the last record starts in the file */
	uint64_t pos;           /* bytes of the file read so far */
	struct fl_limits limits;
	int failed;
};

void tool_input_init(struct tool_input *in, int nfiles, char **files);
int tool_input_next(struct tool_input *in, struct fl_record *rec);
/* The same with fl_record_read_stream: the payload goes to fs's callbacks,
 * which see in->name and in->recno of the record being read. */
int tool_input_next_stream(struct tool_input *in, struct fl_record *rec,
    const struct fl_stream *fs);
void tool_input_free(struct tool_input *in);

/* The one record of path ("-": standard input) into rec: no record, a
 * second record or a bad one is fatal, named by the file. */
void tool_read_one(const char *path, struct fl_record *rec);

/*
 * The output: stdout, or FILE written atomically (-o).  Binary output to a
 * terminal is refused.  Every failure prints and exits 1, and an unfinished
 * -o file is removed (also on exit and on SIGINT, SIGTERM, SIGHUP).
 */
struct tool_output {
	FILE *fp;
	const char *name;
	struct fl_atomic atomic;
	int is_file;            /* -o FILE: atomic, committed on close */
	int is_device;          /* -o to a device or FIFO: written in place */
};

void tool_output_open(struct tool_output *out, const char *path, int binary);
void tool_output_record(struct tool_output *out, const struct fl_record *rec,
    int zlevel);
void tool_output_close(struct tool_output *out);
/* A set of -o files that appear all or none (fl-split --prefix): hold
 * finishes each file (written and synced, but not yet at its name);
 * place_held renames every held file into place.  A failure before that
 * removes every held file. */
void tool_output_hold(struct tool_output *out);
void tool_output_place_held(void);

/*
 * Metadata key of the record just read from in, as a number in [min, max]:
 * 1 with *out set, or 0 if the key is absent (*out untouched).  A value
 * that is not such a number is fatal: "FILE: record N: metadata KEY 'V':
 * why", exit 1.
 */
int tool_meta_double(const struct fl_record *rec, const struct tool_input *in,
    const char *key, double min, double max, double *out);
int tool_meta_u64(const struct fl_record *rec, const struct tool_input *in,
    const char *key, uint64_t min, uint64_t max, uint64_t *out);

/* Checked allocation for the programs: out of memory is fatal here. */
void *tool_malloc(size_t n);

#endif
