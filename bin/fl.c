/* SPDX-License-Identifier: ISC */
/*
 * fl - every fltools program in one binary: "fl train ..." or a link named
 * fl-train runs what fl-train runs, with the same bytes out and the same
 * messages ("fl-train: ...").  The Makefile compiles each bin/fl-X.c a
 * second time with -Dmain=fl_X_main and passes the list as FL_PROGS, a
 * sequence of FL_PROG(X) with X's dashes as underscores.
 */
#define _GNU_SOURCE     /* program_invocation_short_name */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#ifndef FL_PROGS
#error "FL_PROGS: the Makefile lists the programs"
#endif

#define FL_PROG(x) int fl_##x##_main(int, char **);
FL_PROGS
#undef FL_PROG

static const struct prog {
	const char *name;       /* dashes as underscores */
	int (*main)(int, char **);
} progs[] = {
#define FL_PROG(x) { #x, fl_##x##_main },
	FL_PROGS
#undef FL_PROG
};
#define NPROGS (sizeof(progs) / sizeof(progs[0]))

static const char usage[] =
    "fl PROGRAM [ARG ...]\n"
    "       fl-PROGRAM [ARG ...]   (a link to fl)\n"
    "       fl -h | --help | -V | --version";

/* s equals name with its underscores read as dashes. */
static int
same_name(const char *s, const char *name)
{
	for (; *s && *name; s++, name++)
		if (*s != (*name == '_' ? '-' : *name))
			return 0;
	return *s == *name;
}

static void
list(FILE *fp)
{
	fprintf(fp, "usage: %s\n\nPrograms (fl PROGRAM --help for each):\n",
	    usage);
	for (size_t i = 0; i < NPROGS; i++) {
		fputs("  ", fp);
		for (const char *c = progs[i].name; *c; c++)
			fputc(*c == '_' ? '-' : *c, fp);
		fputc('\n', fp);
	}
}

int
main(int argc, char **argv)
{
	static char name[64];
	const char *base = strrchr(argv[0], '/');
	const char *want;

	base = base ? base + 1 : argv[0];
	if (strncmp(base, "fl-", 3) == 0) {
		want = base + 3;                /* a link: fl-train */
	} else {
		if (argc < 2) {
			fprintf(stderr, "fl: no program named\n");
			list(stderr);
			return 2;
		}
		if (strcmp(argv[1], "-h") == 0 ||
		    strcmp(argv[1], "--help") == 0) {
			list(stdout);
			return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
		}
		if (strcmp(argv[1], "-V") == 0 ||
		    strcmp(argv[1], "--version") == 0) {
			printf("fl (fltools) %s\n", FL_VERSION);
			return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
		}
		want = argv[1];
		if (strncmp(want, "fl-", 3) == 0)
			want += 3;              /* fl fl-train also works */
		argc--;
		argv++;
	}
	for (size_t i = 0; i < NPROGS; i++) {
		if (!same_name(want, progs[i].name))
			continue;
		/* Messages and --version name fl-X, as the separate program's. */
		snprintf(name, sizeof(name), "fl-%s", want);
		program_invocation_short_name = name;
		program_invocation_name = name;
		argv[0] = name;
		return progs[i].main(argc, argv);
	}
	fprintf(stderr, "fl: unknown program '%s' (fl --help lists them)\n",
	    want);
	return 2;
}
