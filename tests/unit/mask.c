/* SPDX-License-Identifier: ISC */
/*
 * Unit tests of what fl-mask's steps moved into libfl: the key file as a
 * file (sakeyfile.c: open, commit only when a step changed it, forget),
 * identities and the enrolment read back (saident.c), and the setup of a
 * round (sasetup.c: the master key, an identity, a round's keys, the
 * roster).  The seeded cases are checked against the composition of the
 * lower-level calls fl-mask made before, so that a wrong purpose string,
 * round or order of draws shows.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "../../lib/fl.h"
#include "unit.h"

/* An identity from a fixed seed, pinning op's key (op NULL: none). */
static void
identity(struct fl_sa_identity *ident, const char *id,
    const struct fl_sa_identity *op)
{
	unsigned char seed[FL_RNG_KEYBYTES];
	struct fl_error err;

	fl_sa_seed_key(seed, "unit", "ident", id);
	CHECK(fl_sa_identity_make(ident, id, seed, op != NULL ? op->pk : NULL,
	    &err) == 0);
}

/* rec written to a temporary stream, rewound (NULL rec: empty). */
static FILE *
stream_of(const struct fl_record *rec)
{
	struct fl_error err;
	FILE *fp = tmpfile();

	CHECK(fp != NULL);
	if (rec != NULL)
		CHECK(fl_record_write(fp, rec, 0, &err) == 0);
	rewind(fp);
	return fp;
}

static int
same_file(const char *path, const struct stat *a)
{
	struct stat b;

	return stat(path, &b) == 0 && b.st_dev == a->st_dev &&
	    b.st_ino == a->st_ino;
}

void
test_sa_keyfile(void)
{
	char dir[] = "/tmp/fl-unit.XXXXXX", path[64], idpath[64], hex[FL_SA_HEX];
	struct fl_sa_identity op, ident;
	struct fl_sa_keyfile kf;
	struct fl_record pub, sec, isec, ipub;
	struct fl_error err;
	struct stat a;
	int fd;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/key", dir);
	snprintf(idpath, sizeof(idpath), "%s/id", dir);
	identity(&op, "operator", NULL);
	identity(&ident, "dev-1", &op);
	fl_record_init(&pub);
	fl_record_init(&sec);
	CHECK(fl_sa_keygen(&pub, &sec, &ident, 7, "unit", &err) == 0);
	CHECK(fl_secret_store(path, &sec, 1, &err) == 0);
	CHECK(stat(path, &a) == 0);

	/* Opened under the lock; a commit with no step done writes nothing
	 * and closes. */
	CHECK(fl_sa_keyfile_open(&kf, path, 1, &err) == 0);
	CHECK(kf.fd >= 0 && kf.s.round == 7 && strcmp(kf.s.id, "dev-1") == 0);
	CHECK(kf.s.session[0] == '\0' && kf.s.masked[0] == '\0');
	CHECK(fl_sa_keyfile_commit(&kf, path, &err) == 0);
	CHECK(kf.fd == -1 && kf.s.round == 0 && kf.s.id[0] == '\0');
	CHECK(same_file(path, &a));

	/* A step done: stored atomically (a new file, 0600), read back. */
	memset(hex, 'a', FL_SA_HEX - 1);
	hex[FL_SA_HEX - 1] = '\0';
	CHECK(fl_sa_keyfile_open(&kf, path, 1, &err) == 0);
	memcpy(kf.s.session, hex, sizeof(hex));
	CHECK(fl_sa_keyfile_commit(&kf, path, &err) == 0);
	CHECK(!same_file(path, &a));
	CHECK(stat(path, &a) == 0 && (a.st_mode & 0777) == 0600);
	CHECK(fl_sa_keyfile_open(&kf, path, 0, &err) == 0);
	CHECK(kf.fd == -1);     /* unlocked: closed once read */
	CHECK(strcmp(kf.s.session, hex) == 0 && kf.s.masked[0] == '\0');
	CHECK(strcmp(kf.session, hex) == 0);
	fl_sa_keyfile_close(&kf);
	CHECK(kf.s.session[0] == '\0');

	/* Refused: a missing file, one others may read, an identity. */
	CHECK(fl_sa_keyfile_open(&kf, "/nonexistent-dir/key", 1, &err) < 0);
	CHECK(kf.fd == -1 && err.code == FL_EIO);
	CHECK(strcmp(err.msg, "No such file or directory") == 0);
	CHECK(chmod(path, 0644) == 0);
	CHECK(fl_sa_keyfile_open(&kf, path, 1, &err) < 0 && kf.fd == -1);
	CHECK(strcmp(err.msg, "readable by others (mode 0644): chmod 600 "
	    "it") == 0);
	CHECK(chmod(path, 0600) == 0);
	fl_record_init(&ipub);
	fl_record_init(&isec);
	CHECK(fl_sa_identity_create(&ipub, &isec, "dev-1", "unit", op.pk,
	    &err) == 0);
	CHECK(fl_secret_store(idpath, &isec, 1, &err) == 0);
	CHECK(fl_sa_keyfile_open(&kf, idpath, 1, &err) < 0 && kf.fd == -1);
	CHECK(err.code == FL_EFORMAT);
	CHECK(strcmp(err.msg, "kind 'secagg-identity-secret', want "
	    "secagg-secret") == 0);

	/* Forget: not an identity; a key file, and the zeros an interrupted
	 * forget leaves, are overwritten and removed. */
	CHECK(fl_sa_keyfile_forget(idpath, &err) < 0);
	CHECK(access(idpath, F_OK) == 0);
	CHECK(fl_sa_keyfile_forget(path, &err) == 0);
	CHECK(access(path, F_OK) != 0);
	CHECK(fl_sa_keyfile_forget(path, &err) < 0 && err.code == FL_EIO);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	{
		static const unsigned char zeros[100];

		CHECK(write(fd, zeros, sizeof(zeros)) == sizeof(zeros));
	}
	close(fd);
	CHECK(fl_sa_keyfile_forget(path, &err) == 0);
	CHECK(access(path, F_OK) != 0);

	unlink(idpath);
	rmdir(dir);
	fl_record_free(&pub);
	fl_record_wipe(&sec);
	fl_record_free(&ipub);
	fl_record_wipe(&isec);
}

void
test_sa_identity_files(void)
{
	char dir[] = "/tmp/fl-unit.XXXXXX", path[64];
	struct fl_sa_identity op, want, ident;
	struct fl_sa_enrolment e;
	struct fl_sa_member m;
	struct fl_record pub, sec, pub2, sec2, erec, rec;
	struct fl_error err;
	unsigned char key[FL_RNG_KEYBYTES], pk[FL_SA_BYTES];
	char id[FL_SA_MAXID + 1];
	FILE *fp;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/id", dir);
	identity(&op, "operator", NULL);
	fl_record_init(&pub);
	fl_record_init(&sec);
	fl_record_init(&pub2);
	fl_record_init(&sec2);

	/* A seeded identity is fl_sa_identity_make of the "sa-identity"
	 * key: its secret file loads back as that identity. */
	CHECK(fl_sa_identity_create(&pub, &sec, "dev-1", "unit", op.pk,
	    &err) == 0);
	fl_sa_seed_key(key, "unit", "sa-identity", "dev-1");
	CHECK(fl_sa_identity_make(&want, "dev-1", key, op.pk, &err) == 0);
	CHECK(fl_secret_store(path, &sec, 1, &err) == 0);
	CHECK(fl_sa_identity_load(&ident, path, &err) == 0);
	CHECK(strcmp(ident.id, "dev-1") == 0 && ident.pinned);
	CHECK(memcmp(ident.pk, want.pk, FL_SA_BYTES) == 0);
	CHECK(memcmp(ident.seed, want.seed, FL_SA_BYTES) == 0);
	CHECK(memcmp(ident.operator_pk, op.pk, FL_SA_BYTES) == 0);

	/* Its public half, read from a stream; the secret half is not one. */
	fp = stream_of(&pub);
	CHECK(fl_sa_identity_public_read(fp, id, pk, &err) == 0);
	CHECK(strcmp(id, "dev-1") == 0 && memcmp(pk, want.pk, FL_SA_BYTES) == 0);
	fclose(fp);
	fp = stream_of(&sec);
	CHECK(fl_sa_identity_public_read(fp, id, pk, &err) < 0);
	CHECK(strcmp(err.msg, "kind 'secagg-identity-secret', want "
	    "secagg-identity") == 0);
	fclose(fp);
	fp = stream_of(NULL);
	CHECK(fl_sa_identity_public_read(fp, id, pk, &err) < 0);
	CHECK(err.code == FL_EFORMAT);
	CHECK(strcmp(err.msg, "empty: not an identity") == 0);
	fclose(fp);

	/* No seed: the operating system's, never the same twice; a bad id
	 * fails with nothing left in sec. */
	CHECK(fl_sa_identity_create(&pub2, &sec2, "dev-1", NULL, NULL,
	    &err) == 0);
	fp = stream_of(&pub2);
	CHECK(fl_sa_identity_public_read(fp, id, pk, &err) == 0);
	CHECK(memcmp(pk, want.pk, FL_SA_BYTES) != 0);
	fclose(fp);
	fl_record_wipe(&sec2);
	CHECK(fl_sa_identity_create(&pub2, &sec2, "a b", "unit", NULL,
	    &err) < 0);
	CHECK(sec2.ntensors == 0 && sec2.nmeta == 0);
	CHECK(fl_sa_identity_load(&ident, "/nonexistent-dir/id", &err) < 0);

	/* The enrolment: the first record of a stream, checked against the
	 * pinned operator key. */
	memcpy(m.id, "dev-1", 6);
	memcpy(m.pk, want.pk, FL_SA_BYTES);
	fl_record_init(&rec);
	CHECK(fl_sa_enrolment_make(&rec, &m, 1, &op, &err) == 0);
	fp = stream_of(&rec);
	fl_record_init(&erec);
	CHECK(fl_sa_enrolment_load(&e, &erec, fp, op.pk, &err) == 0);
	CHECK(e.n == 1 && fl_sa_enrolment_find(&e, "dev-1") != NULL);
	CHECK(memcmp(fl_sa_enrolment_find(&e, "dev-1"), want.pk,
	    FL_SA_BYTES) == 0);
	fclose(fp);
	fp = stream_of(&rec);
	CHECK(fl_sa_enrolment_load(&e, &erec, fp, want.pk, &err) < 0);
	fclose(fp);
	fp = stream_of(NULL);
	CHECK(fl_sa_enrolment_load(&e, &erec, fp, NULL, &err) < 0);
	CHECK(err.code == FL_EFORMAT);
	CHECK(strcmp(err.msg, "empty: not an enrolment") == 0);
	fclose(fp);

	unlink(path);
	rmdir(dir);
	fl_record_free(&rec);
	fl_record_free(&erec);
	fl_record_free(&pub);
	fl_record_wipe(&sec);
	fl_record_free(&pub2);
	fl_record_wipe(&sec2);
	sodium_memzero(&ident, sizeof(ident));
}

void
test_sa_keygen(void)
{
	struct fl_sa_identity op, ident;
	struct fl_sa_secret s, s2;
	struct fl_sa_public p, q;
	struct fl_record pub, sec, pub2, sec2;
	struct fl_error err;
	struct fl_rng rng;
	unsigned char key[FL_RNG_KEYBYTES], key2[FL_RNG_KEYBYTES];

	/* The master key: --seed's derivation, or the system's. */
	CHECK(fl_sa_master_key(key, "unit", "sa-keys", "dev-1", &err) == 0);
	fl_sa_seed_key(key2, "unit", "sa-keys", "dev-1");
	CHECK(memcmp(key, key2, sizeof(key)) == 0);
	CHECK(fl_sa_master_key(key, NULL, "sa-keys", "dev-1", &err) == 0);
	CHECK(fl_sa_master_key(key2, NULL, "sa-keys", "dev-1", &err) == 0);
	CHECK(memcmp(key, key2, sizeof(key)) != 0);

	identity(&op, "operator", NULL);
	identity(&ident, "dev-1", &op);
	fl_record_init(&pub);
	fl_record_init(&sec);
	fl_record_init(&pub2);
	fl_record_init(&sec2);

	/* An identity that trusts no operator is the identity's fault. */
	CHECK(fl_sa_keygen(&pub, &sec, &op, 7, "unit", &err) < 0);
	CHECK(err.code == FL_EINVAL);
	CHECK(strcmp(err.msg, "identity 'operator' trusts no operator: make "
	    "it with --operator, so that rosters can be checked against the "
	    "enrolment") == 0);
	CHECK(sec.ntensors == 0 && sec.nmeta == 0);

	/* The key file is fl_sa_secret_new from the "sa-keys" key, and the
	 * public record its keys, signed by the identity. */
	CHECK(fl_sa_keygen(&pub, &sec, &ident, 7, "unit", &err) == 0);
	CHECK(fl_sa_secret_from_record(&s, &sec, &err) == 0);
	fl_sa_seed_key(key, "unit", "sa-keys", "dev-1");
	fl_rng_init(&rng, key, 0);
	CHECK(fl_sa_secret_new(&s2, &ident, 7, &rng, &err) == 0);
	fl_rng_wipe(&rng);
	CHECK(s.round == 7 && strcmp(s.id, "dev-1") == 0);
	CHECK(memcmp(s.mask_seed, s2.mask_seed, sizeof(s.mask_seed)) == 0);
	CHECK(memcmp(s.self, s2.self, sizeof(s.self)) == 0);
	CHECK(memcmp(s.box_seed, s2.box_seed, sizeof(s.box_seed)) == 0);
	CHECK(memcmp(s.operator_pk, op.pk, FL_SA_BYTES) == 0);
	CHECK(fl_sa_public_from_record(&p, &pub, &err) == 0);
	CHECK(fl_sa_public_verify(&p, &err) == 0);
	CHECK(fl_sa_public_of(&s, &ident, &q, &err) == 0);
	CHECK(memcmp(&p, &q, sizeof(p)) == 0);

	/* Without a seed, other keys. */
	CHECK(fl_sa_keygen(&pub2, &sec2, &ident, 7, NULL, &err) == 0);
	CHECK(fl_sa_public_from_record(&q, &pub2, &err) == 0);
	CHECK(memcmp(p.pk_mask, q.pk_mask, FL_SA_BYTES) != 0);
	CHECK(memcmp(p.identity, q.identity, FL_SA_BYTES) == 0);

	sodium_memzero(&s, sizeof(s));
	sodium_memzero(&s2, sizeof(s2));
	fl_record_free(&pub);
	fl_record_wipe(&sec);
	fl_record_free(&pub2);
	fl_record_wipe(&sec2);
}

void
test_sa_roster_make(void)
{
	static const char *const ids[5] = { "e", "c", "a", "d", "b" };
	struct fl_sa_policy pol = { .min_clients = 3, .corrupt = 0.05,
		.dropout = 0.1 };
	struct fl_secagg_params prm;
	struct fl_sa_identity op, ident;
	struct fl_sa_public *pub;
	struct fl_sa_roster r;
	struct fl_record prec, srec;
	struct fl_error err;

	identity(&op, "operator", NULL);
	pub = malloc(5 * sizeof(*pub));
	CHECK(pub != NULL);
	for (int i = 0; i < 5; i++) {
		identity(&ident, ids[i], &op);
		fl_record_init(&prec);
		fl_record_init(&srec);
		CHECK(fl_sa_keygen(&prec, &srec, &ident, 3, "unit", &err) == 0);
		CHECK(fl_sa_public_from_record(&pub[i], &prec, &err) == 0);
		fl_record_free(&prec);
		fl_record_wipe(&srec);
	}

	/* (k, t, C) of the policy; the keys sorted by id. */
	CHECK(fl_sa_roster_make(&r, pub, 5, &pol, &err) == 0);
	CHECK(fl_sa_policy_params(5, &pol, &prm, &err) == 0);
	CHECK(r.n == 5 && r.round == 3 && r.k == prm.k && r.t == prm.t &&
	    r.corrupt == prm.corrupt);
	for (uint32_t i = 1; i < r.n; i++)
		CHECK(strcmp(r.pub[i - 1].id, r.pub[i].id) < 0);
	CHECK(fl_sa_roster_find(&r, "c") == 3);
	fl_sa_roster_free(&r);

	/* Too few and too many: refused, the keys taken all the same. */
	pub = malloc(2 * sizeof(*pub));
	CHECK(pub != NULL);
	CHECK(fl_sa_roster_make(&r, pub, 2, &pol, &err) < 0);
	CHECK(err.code == FL_EINVAL);
	CHECK(strcmp(err.msg, "2 public keys: secure aggregation needs at "
	    "least 3 clients") == 0);
	fl_sa_roster_free(&r);
	pub = malloc(sizeof(*pub));
	CHECK(pub != NULL);
	CHECK(fl_sa_roster_make(&r, pub, (1u << 24) + 1, &pol, &err) < 0);
	CHECK(strcmp(err.msg, "16777217 public keys: too many") == 0);
	fl_sa_roster_free(&r);
}
