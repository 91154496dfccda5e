/* SPDX-License-Identifier: ISC */
/*
 * Files that hold secrets: a device's identity and its key file of a
 * round.  They are 0600 (a file others may read is not a secret any
 * more, as ssh says), read in one piece into a buffer that is wiped
 * after parsing, and written through a stdio buffer of ours that is wiped
 * too, so that no copy of a secret outlives its use in freed memory.
 *
 * A key file also records what its client has done in the round (bound
 * to a session, masked an update, confirmed a survivor set), and each of
 * those is a check-then-write: two processes doing it at once must not
 * both pass the check.  fl_secret_open takes an exclusive flock(2) for
 * that; since writers replace the file by rename, it locks the file that
 * is at the path once it holds the lock, retrying when a writer it waited
 * for has put a new file there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "secagg/internal.h"

/* Secret files are a few hundred bytes; anything much larger is not one. */
#define MAX_SECRET_FILE (64 * 1024)

int
fl_secret_open(const char *path, int lock, int *fdp, struct fl_error *err)
{
	for (;;) {
		struct stat a, b;
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			return fl_error_set(err, FL_EIO, "%s", strerror(errno));
		if (fstat(fd, &a) < 0) {
			int e = errno;

			close(fd);
			return fl_error_set(err, FL_EIO, "%s", strerror(e));
		}
		if (!S_ISREG(a.st_mode)) {
			close(fd);
			return fl_error_set(err, FL_EINVAL, "not a regular "
			    "file");
		}
		if ((a.st_mode & 077) != 0) {
			close(fd);
			return fl_error_set(err, FL_EINVAL, "readable by others "
			    "(mode %04o): chmod 600 it",
			    (unsigned)(a.st_mode & 07777));
		}
		if (!lock) {
			*fdp = fd;
			return 0;
		}
		if (flock(fd, LOCK_EX) < 0) {
			int e = errno;

			close(fd);
			return fl_error_set(err, FL_EIO, "cannot lock: %s",
			    strerror(e));
		}
		if (stat(path, &b) < 0) {
			int e = errno;

			close(fd);
			return fl_error_set(err, FL_EIO, "%s", strerror(e));
		}
		if (b.st_dev == a.st_dev && b.st_ino == a.st_ino) {
			*fdp = fd;
			return 0;
		}
		close(fd);      /* replaced while we waited: lock the new one */
	}
}

int
fl_secret_load(int fd, struct fl_record *rec, struct fl_error *err)
{
	unsigned char buf[MAX_SECRET_FILE];
	size_t len = 0;
	ssize_t n;
	int rc;

	while (len < sizeof(buf) &&
	    (n = pread(fd, buf + len, sizeof(buf) - len, (off_t)len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = fl_error_set(err, FL_EIO, "%s", strerror(errno));
			goto out;
		}
		len += (size_t)n;
	}
	if (len == sizeof(buf)) {
		rc = fl_error_set(err, FL_ELIMIT, "over %d bytes: not a key "
		    "or identity file", MAX_SECRET_FILE);
		goto out;
	}
	if (len == 0) {
		rc = fl_error_set(err, FL_EFORMAT, "empty: not a key or "
		    "identity file");
		goto out;
	}
	/* One record, all of the file: fl_record_parse wants the size. */
	rc = fl_record_parse(rec, buf, len, NULL, err) < 0 ? -1 : 0;
out:
	sodium_memzero(buf, len);
	return rc;
}

int
fl_secret_store(const char *path, const struct fl_record *rec, int excl,
    struct fl_error *err)
{
	unsigned char *buf = malloc(MAX_SECRET_FILE);
	struct fl_atomic a;
	int rc;

	if (buf == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	if (fl_atomic_open(&a, path, 0600, err) < 0) {
		free(buf);
		return -1;
	}
	/* The bytes go through stdio's buffer: ours, wiped below. */
	if (setvbuf(a.fp, (char *)buf, _IOFBF, MAX_SECRET_FILE) != 0) {
		fl_atomic_abort(&a);
		free(buf);
		return fl_error_set(err, FL_EIO, "cannot set a buffer");
	}
	if (fl_record_write(a.fp, rec, 0, err) < 0) {
		fl_atomic_abort(&a);
		rc = -1;
	} else {
		rc = excl ? fl_atomic_commit_new(&a, err) :
		    fl_atomic_commit(&a, err);
	}
	sodium_memzero(buf, MAX_SECRET_FILE);
	free(buf);
	return rc;
}

int
fl_secret_zeroed(int fd)
{
	unsigned char buf[4096];
	off_t off = 0;
	ssize_t n;
	int any = 0;

	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != 0)
				return 0;
		any = 1;
		off += n;
		if (off > MAX_SECRET_FILE)
			return 0;
	}
	return n == 0 && any;
}

void
fl_secret_close(int fd)
{
	if (fd >= 0)
		close(fd);      /* and with it the lock */
}

int
fl_secret_forget(const char *path, struct fl_error *err)
{
	static const unsigned char zeros[4096];
	struct stat a, b;
	off_t left;
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return fl_error_set(err, FL_EIO, "%s", strerror(errno));
	/* The caller holds the lock on the file at path: this must be it. */
	if (fstat(fd, &a) < 0 || stat(path, &b) < 0 || a.st_dev != b.st_dev ||
	    a.st_ino != b.st_ino || !S_ISREG(a.st_mode)) {
		close(fd);
		return fl_error_set(err, FL_EIO, "changed while it was "
		    "forgotten");
	}
	for (left = a.st_size; left > 0;) {
		size_t n = (size_t)left < sizeof(zeros) ? (size_t)left :
		    sizeof(zeros);
		ssize_t w = write(fd, zeros, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = errno;

			close(fd);
			return fl_error_set(err, FL_EIO, "cannot overwrite: %s",
			    strerror(e));
		}
		left -= w;
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		return fl_error_set(err, FL_EIO, "cannot overwrite: %s",
		    strerror(errno));
	if (unlink(path) < 0)
		return fl_error_set(err, FL_EIO, "cannot remove: %s",
		    strerror(errno));
	return 0;
}
