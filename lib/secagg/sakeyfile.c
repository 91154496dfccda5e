/* SPDX-License-Identifier: ISC */
/*
 * A client's key file and a device's identity as files, for the steps of
 * fl-mask: loaded (the key file under its lock when the step records what
 * it did), stored again only when the step changed that record, and
 * forgotten when the round is over.  Built on the secret files of
 * sakey.c; every copy of a secret made here is wiped: the record read,
 * the record written, the struct when the key file is closed.
 */
#include <string.h>

#include <sodium.h>

#include "secagg/internal.h"

int
fl_sa_keyfile_open(struct fl_sa_keyfile *kf, const char *path, int lock,
    struct fl_error *err)
{
	struct fl_record rec;
	int rc;

	memset(kf, 0, sizeof(*kf));
	if (fl_secret_open(path, lock, &kf->fd, err) < 0) {
		kf->fd = -1;
		return -1;
	}
	fl_record_init(&rec);
	rc = fl_secret_load(kf->fd, &rec, err);
	if (rc == 0)
		rc = fl_sa_secret_from_record(&kf->s, &rec, err);
	fl_record_wipe(&rec);
	/* Unlocked, the file is not needed once read. */
	if (rc < 0 || !lock) {
		fl_secret_close(kf->fd);
		kf->fd = -1;
	}
	if (rc < 0) {
		sodium_memzero(&kf->s, sizeof(kf->s));
		return -1;
	}
	/* What the key file records, to tell whether the step changed it. */
	memcpy(kf->session, kf->s.session, sizeof(kf->session));
	memcpy(kf->masked, kf->s.masked, sizeof(kf->masked));
	memcpy(kf->confirmed, kf->s.confirmed, sizeof(kf->confirmed));
	return 0;
}

void
fl_sa_keyfile_close(struct fl_sa_keyfile *kf)
{
	sodium_memzero(&kf->s, sizeof(kf->s));
	fl_secret_close(kf->fd);
	kf->fd = -1;
}

int
fl_sa_keyfile_commit(struct fl_sa_keyfile *kf, const char *path,
    struct fl_error *err)
{
	struct fl_record rec;
	int rc = 0;

	if (strcmp(kf->session, kf->s.session) != 0 ||
	    strcmp(kf->masked, kf->s.masked) != 0 ||
	    strcmp(kf->confirmed, kf->s.confirmed) != 0) {
		fl_record_init(&rec);
		rc = fl_sa_secret_to_record(&kf->s, &rec, err);
		if (rc == 0)
			rc = fl_secret_store(path, &rec, 0, err);
		fl_record_wipe(&rec);
	}
	fl_sa_keyfile_close(kf);
	return rc;
}

int
fl_sa_keyfile_forget(const char *path, struct fl_error *err)
{
	struct fl_sa_secret s;
	struct fl_record rec;
	int fd, rc;

	if (fl_secret_open(path, 1, &fd, err) < 0)
		return -1;
	fl_record_init(&rec);
	/* Only a key file is forgotten, or what a forget cut short left of
	 * one: zeros, not yet removed. */
	rc = fl_secret_load(fd, &rec, err);
	if (rc == 0)
		rc = fl_sa_secret_from_record(&s, &rec, err);
	fl_record_wipe(&rec);
	sodium_memzero(&s, sizeof(s));
	if (rc < 0 && !fl_secret_zeroed(fd)) {
		fl_secret_close(fd);
		return -1;
	}
	rc = fl_secret_forget(path, err);
	fl_secret_close(fd);
	return rc;
}

int
fl_sa_identity_load(struct fl_sa_identity *ident, const char *path,
    struct fl_error *err)
{
	struct fl_record rec;
	int fd, rc;

	if (fl_secret_open(path, 0, &fd, err) < 0)
		return -1;
	fl_record_init(&rec);
	rc = fl_secret_load(fd, &rec, err);
	fl_secret_close(fd);
	if (rc == 0)
		rc = fl_sa_identity_from_record(ident, &rec, err);
	fl_record_wipe(&rec);
	if (rc < 0)
		sodium_memzero(ident, sizeof(*ident));
	return rc;
}
