/* SPDX-License-Identifier: ISC */
/* Integer elements of a tensor, whatever their width: read widened to 64
 * bits, written back narrowed, and the range each integer dtype holds.  The
 * aggregation's exact integer sums and the text parser of fl-pack both go
 * through these, so the dtype switch lives once. */
#include "format/format.h"

void
fl_dtype_int_range(enum fl_dtype dt, int64_t *min, uint64_t *max)
{
	switch (dt) {
	case FL_I8: *min = INT8_MIN; *max = INT8_MAX; break;
	case FL_I16: *min = INT16_MIN; *max = INT16_MAX; break;
	case FL_I32: *min = INT32_MIN; *max = INT32_MAX; break;
	case FL_I64: *min = INT64_MIN; *max = INT64_MAX; break;
	case FL_U8: *min = 0; *max = UINT8_MAX; break;
	case FL_U16: *min = 0; *max = UINT16_MAX; break;
	case FL_U32: *min = 0; *max = UINT32_MAX; break;
	case FL_U64: *min = 0; *max = UINT64_MAX; break;
	default: *min = 0; *max = 0; break;
	}
}

uint64_t
fl_tensor_get_u64(const struct fl_tensor *t, uint64_t i)
{
	switch (t->dtype) {
	case FL_U8: return ((const uint8_t *)t->data)[i];
	case FL_U16: return ((const uint16_t *)t->data)[i];
	case FL_U32: return ((const uint32_t *)t->data)[i];
	case FL_U64: return ((const uint64_t *)t->data)[i];
	default: return 0;
	}
}

int64_t
fl_tensor_get_i64(const struct fl_tensor *t, uint64_t i)
{
	switch (t->dtype) {
	case FL_I8: return ((const int8_t *)t->data)[i];
	case FL_I16: return ((const int16_t *)t->data)[i];
	case FL_I32: return ((const int32_t *)t->data)[i];
	case FL_I64: return ((const int64_t *)t->data)[i];
	default: return 0;
	}
}

void
fl_tensor_set_int(struct fl_tensor *t, uint64_t i, int64_t v, uint64_t u)
{
	switch (t->dtype) {
	case FL_I8: ((int8_t *)t->data)[i] = (int8_t)v; break;
	case FL_I16: ((int16_t *)t->data)[i] = (int16_t)v; break;
	case FL_I32: ((int32_t *)t->data)[i] = (int32_t)v; break;
	case FL_I64: ((int64_t *)t->data)[i] = v; break;
	case FL_U8: ((uint8_t *)t->data)[i] = (uint8_t)u; break;
	case FL_U16: ((uint16_t *)t->data)[i] = (uint16_t)u; break;
	case FL_U32: ((uint32_t *)t->data)[i] = (uint32_t)u; break;
	case FL_U64: ((uint64_t *)t->data)[i] = u; break;
	default: break;
	}
}
