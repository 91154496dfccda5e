/* SPDX-License-Identifier: ISC */
/* Unit tests of tensor selection (lib/format/select.c). */
#include <string.h>

#include "../../lib/fl.h"
#include "unit.h"

/* A state_dict-like record: two float tensors, an f16 one, an i64 buffer. */
static void
sd_record(struct fl_record *rec)
{
	struct fl_error err;
	uint64_t two = 2, one = 1;
	struct fl_tensor *t;

	fl_record_init(rec);
	t = fl_tensor_add(rec, "conv.weight", FL_F32, 1, &two, &err);
	((float *)t->data)[0] = 1.5f;
	((float *)t->data)[1] = -2;
	fl_tensor_add(rec, "bn.weight", FL_F64, 1, &two, &err);
	fl_tensor_add(rec, "bn.running_mean", FL_F16, 1, &two, &err);
	t = fl_tensor_add(rec, "bn.num_batches_tracked", FL_I64, 1, &one,
	    &err);
	((int64_t *)t->data)[0] = 117;
}

static enum fl_select_why
why(const struct fl_select *s, const struct fl_record *rec, const char *name)
{
	return fl_select_why(s, fl_tensor_find(rec, name));
}

void
test_select(void)
{
	static const char *const keep[] = { "clip.indicator", NULL };
	struct fl_select s;
	struct fl_record rec, aside;
	struct fl_error err;

	sd_record(&rec);
	/* No pattern: the float tensors, not the integer one. */
	fl_select_init(&s);
	CHECK(!fl_select_active(&s));
	CHECK(why(&s, &rec, "conv.weight") == FL_SELECT_YES);
	CHECK(why(&s, &rec, "bn.running_mean") == FL_SELECT_YES);
	CHECK(why(&s, &rec, "bn.num_batches_tracked") == FL_SELECT_INTEGER);
	CHECK(fl_select_check(&s, &rec, NULL, &err) == 0);

	/* --exclude: a glob crossing dots, a list. */
	CHECK(fl_select_add(&s, 1, "bn.*", &err) == 0);
	CHECK(fl_select_active(&s));
	CHECK(why(&s, &rec, "bn.weight") == FL_SELECT_EXCLUDED);
	CHECK(why(&s, &rec, "bn.num_batches_tracked") == FL_SELECT_EXCLUDED);
	CHECK(why(&s, &rec, "conv.weight") == FL_SELECT_YES);
	CHECK(fl_select_check(&s, &rec, NULL, &err) == 0);
	fl_select_free(&s);

	/* --only: a wildcard never takes an integer tensor, its name does. */
	fl_select_init(&s);
	CHECK(fl_select_add(&s, 0, "bn.*", &err) == 0);
	CHECK(why(&s, &rec, "conv.weight") == FL_SELECT_EXCLUDED);
	CHECK(why(&s, &rec, "bn.weight") == FL_SELECT_YES);
	CHECK(why(&s, &rec, "bn.num_batches_tracked") == FL_SELECT_INTEGER);
	CHECK(fl_select_add(&s, 0, "conv.w[a-z]ight,bn.num_batches_tracked",
	    &err) == 0);
	CHECK(s.n == 3 && s.nonly == 3);
	CHECK(why(&s, &rec, "conv.weight") == FL_SELECT_YES);
	CHECK(why(&s, &rec, "bn.num_batches_tracked") == FL_SELECT_YES);
	CHECK(fl_select_check(&s, &rec, NULL, &err) == 0);
	fl_select_free(&s);

	/* Patterns that do nothing, and no selection at all. */
	fl_select_init(&s);
	CHECK(fl_select_add(&s, 0, "fc.*", &err) == 0);
	CHECK(fl_select_check(&s, &rec, NULL, &err) < 0);
	CHECK(strcmp(err.msg, "--only 'fc.*' matches no tensor") == 0);
	fl_select_free(&s);
	fl_select_init(&s);
	CHECK(fl_select_add(&s, 0, "*tracked", &err) == 0);
	CHECK(fl_select_check(&s, &rec, NULL, &err) < 0);
	CHECK(strstr(err.msg, "selected only by its full name") != NULL);
	fl_select_free(&s);
	fl_select_init(&s);
	CHECK(fl_select_add(&s, 1, "*", &err) == 0);
	CHECK(fl_select_check(&s, &rec, NULL, &err) < 0);
	CHECK(strcmp(err.msg, "--only and --exclude select no tensor") == 0);
	fl_select_free(&s);
	fl_select_init(&s);
	CHECK(fl_select_add(&s, 1, "fc.bias", &err) == 0);
	CHECK(fl_select_check(&s, &rec, NULL, &err) < 0);
	CHECK(strcmp(err.msg, "--exclude 'fc.bias' matches no tensor") == 0);
	fl_select_free(&s);

	/* Bad patterns. */
	fl_select_init(&s);
	CHECK(fl_select_add(&s, 0, "", &err) < 0 && err.code == FL_EINVAL);
	CHECK(fl_select_add(&s, 0, "a,,b", &err) < 0);
	CHECK(fl_select_add(&s, 1, "conv[", &err) < 0);
	CHECK(strcmp(err.msg, "invalid --exclude 'conv[': a '[' without its "
	    "']'") == 0);
	CHECK(fl_select_add(&s, 0, "a b", &err) < 0);
	CHECK(fl_select_add(&s, 0, "a\\", &err) < 0);
	CHECK(fl_select_add(&s, 0, "[]]x", &err) == 0);
	CHECK(fl_select_add(&s, 0, "a[2$3]", &err) < 0);
	fl_select_free(&s);

	/* Split and join: the left-out tensors come back byte for byte,
	 * after the others; a kept name stays. */
	fl_select_init(&s);
	CHECK(fl_select_add(&s, 1, "conv.*", &err) == 0);
	fl_record_init(&aside);
	{
		uint64_t one = 1;

		CHECK(fl_tensor_add(&rec, "clip.indicator", FL_U32, 1, &one,
		    &err) != NULL);
	}
	CHECK(fl_select_split(&s, &rec, keep, &aside, &err) == 0);
	CHECK(rec.ntensors == 3 && aside.ntensors == 2);
	CHECK(strcmp(rec.tensors[0].name, "bn.weight") == 0);
	CHECK(strcmp(rec.tensors[2].name, "clip.indicator") == 0);
	CHECK(strcmp(aside.tensors[0].name, "conv.weight") == 0);
	CHECK(((float *)aside.tensors[0].data)[1] == -2);
	CHECK(((int64_t *)aside.tensors[1].data)[0] == 117);
	CHECK(fl_select_join(&rec, &aside, &err) == 0);
	CHECK(rec.ntensors == 5);
	CHECK(((int64_t *)fl_tensor_find(&rec,
	    "bn.num_batches_tracked")->data)[0] == 117);
	CHECK(fl_select_join(&rec, &aside, &err) < 0);
	/* The names of the tensors set aside, and back. */
	{
		struct fl_record back;
		char names[64], small[8];

		CHECK(fl_select_names(&aside, names, sizeof(names), &err) == 0);
		CHECK(strcmp(names, "conv.weight,bn.num_batches_tracked") == 0);
		CHECK(fl_select_names(&aside, small, sizeof(small), &err) < 0 &&
		    err.code == FL_ELIMIT);
		fl_record_init(&back);
		CHECK(fl_select_take(&rec, names, &back, &err) == 0);
		CHECK(rec.ntensors == 3 && back.ntensors == 2);
		CHECK(((int64_t *)back.tensors[1].data)[0] == 117);
		CHECK(fl_select_take(&rec, "conv.weight", &back, &err) < 0);
		CHECK(strcmp(err.msg, "no tensor 'conv.weight'") == 0);
		CHECK(fl_select_take(&rec, ",x", &back, &err) < 0);
		CHECK(fl_select_join(&rec, &back, &err) == 0);
		fl_record_free(&back);
	}
	/* Dropped. */
	CHECK(fl_select_split(&s, &rec, keep, NULL, &err) == 0);
	CHECK(rec.ntensors == 3 && fl_tensor_find(&rec, "conv.weight") == NULL);
	fl_select_free(&s);
	fl_record_free(&aside);
	fl_record_free(&rec);
}
