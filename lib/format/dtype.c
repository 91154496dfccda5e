/* SPDX-License-Identifier: ISC */
#include <string.h>

#include "format/format.h"

static const struct {
	const char *name;
	size_t size;
} dtypes[FL_DTYPE_COUNT] = {
	[FL_F32] = { "f32", 4 }, [FL_F64] = { "f64", 8 },
	[FL_I8] = { "i8", 1 },   [FL_U8] = { "u8", 1 },
	[FL_I16] = { "i16", 2 }, [FL_U16] = { "u16", 2 },
	[FL_I32] = { "i32", 4 }, [FL_U32] = { "u32", 4 },
	[FL_I64] = { "i64", 8 }, [FL_U64] = { "u64", 8 },
	[FL_F16] = { "f16", 2 }, [FL_BF16] = { "bf16", 2 },
};

const char *
fl_dtype_name(enum fl_dtype dt)
{
	return (unsigned)dt < FL_DTYPE_COUNT ? dtypes[dt].name : NULL;
}

size_t
fl_dtype_size(enum fl_dtype dt)
{
	return (unsigned)dt < FL_DTYPE_COUNT ? dtypes[dt].size : 0;
}

int
fl_dtype_parse(const char *s, size_t len, enum fl_dtype *out)
{
	for (int i = 0; i < FL_DTYPE_COUNT; i++) {
		if (strlen(dtypes[i].name) == len &&
		    memcmp(dtypes[i].name, s, len) == 0) {
			*out = (enum fl_dtype)i;
			return 0;
		}
	}
	return -1;
}

int
fl_dtype_is_float(enum fl_dtype dt)
{
	return dt == FL_F32 || dt == FL_F64 || dt == FL_F16 || dt == FL_BF16;
}

int
fl_dtype_is_half(enum fl_dtype dt)
{
	return dt == FL_F16 || dt == FL_BF16;
}

int
fl_dtype_is_signed_int(enum fl_dtype dt)
{
	return dt == FL_I8 || dt == FL_I16 || dt == FL_I32 || dt == FL_I64;
}
