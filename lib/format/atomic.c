/* SPDX-License-Identifier: ISC */
/*
 * Atomic file output: a temporary file in the target's directory (rename is
 * atomic only within one file system), fsync before rename so a crash never
 * leaves a renamed but empty file, and fsync of the directory after.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/format.h"

int
fl_atomic_open(struct fl_atomic *a, const char *path, unsigned mode,
    struct fl_error *err)
{
	char *copy, *dir;
	mode_t mask;
	size_t n;
	int fd;

	memset(a, 0, sizeof(*a));
	if ((copy = strdup(path)) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	dir = dirname(copy);
	n = strlen(dir) + strlen(path) + 32;
	a->tmp = malloc(n);
	a->path = strdup(path);
	if (a->tmp == NULL || a->path == NULL) {
		free(copy);
		fl_atomic_abort(a);
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	}
	snprintf(a->tmp, n, "%s/.fl-tmp.XXXXXX", dir);
	free(copy);
	if ((fd = mkstemp(a->tmp)) < 0) {
		int e = errno;

		free(a->tmp);
		a->tmp = NULL;
		fl_atomic_abort(a);
		return fl_error_set(err, FL_EIO, "cannot create a temporary "
		    "file: %s", strerror(e));
	}
	/* mkstemp makes 0600; give the file what open(2) would have. */
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, (mode_t)mode & ~mask) < 0 ||
	    (a->fp = fdopen(fd, "wb")) == NULL) {
		int e = errno;

		close(fd);
		fl_atomic_abort(a);
		return fl_error_set(err, FL_EIO, "%s", strerror(e));
	}
	return 0;
}

int
fl_atomic_finish(struct fl_atomic *a, struct fl_error *err)
{
	int e;

	if (fflush(a->fp) != 0 || ferror(a->fp) || fsync(fileno(a->fp)) < 0) {
		e = errno;
		fl_atomic_abort(a);
		return fl_error_set(err, FL_EIO, "%s", strerror(e));
	}
	if (fclose(a->fp) != 0) {
		e = errno;
		a->fp = NULL;
		fl_atomic_abort(a);
		return fl_error_set(err, FL_EIO, "%s", strerror(e));
	}
	a->fp = NULL;
	return 0;
}

/* Put the finished temporary file at the path: by rename(2), replacing any
 * file there, or with excl by link(2), which fails when one exists,
 * whoever made it in the meantime. */
static int
place(struct fl_atomic *a, int excl, struct fl_error *err)
{
	char *copy;
	int fd, e;

	if (excl ? link(a->tmp, a->path) : rename(a->tmp, a->path)) {
		e = errno;
		fl_atomic_abort(a);
		if (excl && e == EEXIST)
			return fl_error_set(err, FL_EINVAL, "exists");
		return fl_error_set(err, FL_EIO, "%s", strerror(e));
	}
	if (excl)
		unlink(a->tmp);
	/* Make the rename itself durable. */
	if ((copy = strdup(a->path)) != NULL) {
		if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY)) >= 0) {
			fsync(fd);
			close(fd);
		}
		free(copy);
	}
	free(a->tmp);
	free(a->path);
	memset(a, 0, sizeof(*a));
	return 0;
}

int
fl_atomic_place(struct fl_atomic *a, struct fl_error *err)
{
	return place(a, 0, err);
}

static int
commit(struct fl_atomic *a, int excl, struct fl_error *err)
{
	if (fl_atomic_finish(a, err) < 0)
		return -1;
	return place(a, excl, err);
}

int
fl_atomic_commit(struct fl_atomic *a, struct fl_error *err)
{
	return commit(a, 0, err);
}

int
fl_atomic_commit_new(struct fl_atomic *a, struct fl_error *err)
{
	return commit(a, 1, err);
}

void
fl_atomic_abort(struct fl_atomic *a)
{
	if (a->fp != NULL)
		fclose(a->fp);
	if (a->tmp != NULL)
		unlink(a->tmp);
	free(a->tmp);
	free(a->path);
	memset(a, 0, sizeof(*a));
}
