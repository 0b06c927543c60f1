#include "common/batch_tensor.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace imagefeed {

absl::StatusOr<BatchTensor> ViewBatch(const v1::Batch& batch) {
  if (batch.shape_size() != 4) return absl::InvalidArgumentError("batch shape must have 4 dimensions");
  BatchTensor t;
  t.nhwc = batch.layout() == v1::LAYOUT_NHWC;
  int64_t elem = 4;
  switch (batch.dtype()) {
    case v1::DTYPE_UNSPECIFIED:
    case v1::DTYPE_FLOAT32:
      break;
    case v1::DTYPE_UINT8:
      t.element = BatchTensor::Element::kUint8;
      elem = 1;
      break;
    case v1::DTYPE_FLOAT16:
      t.element = BatchTensor::Element::kFloat16;
      elem = 2;
      break;
    case v1::DTYPE_BFLOAT16:
      t.element = BatchTensor::Element::kBFloat16;
      elem = 2;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("batch dtype ", batch.dtype(), " is unknown"));
  }
  t.n = batch.shape(0);
  t.c = t.nhwc ? batch.shape(3) : batch.shape(1);
  t.h = t.nhwc ? batch.shape(1) : batch.shape(2);
  t.w = t.nhwc ? batch.shape(2) : batch.shape(3);
  constexpr int64_t kMaxDim = int64_t{1} << 31;  // keeps the products below from overflowing
  for (int64_t d : batch.shape()) {
    if (d < 0 || d > kMaxDim) {
      return absl::InvalidArgumentError(
          absl::StrCat("batch shape [", absl::StrJoin(batch.shape(), ","), "] has a dimension outside [0, 2^31]"));
    }
  }
  const int64_t pixels = t.h * t.w;
  const bool too_big = pixels > 0 && t.n * t.c > (INT64_MAX / 4) / pixels;
  if (t.c <= 0 || too_big || static_cast<uint64_t>(t.size() * elem) != batch.data().size()) {
    return absl::InvalidArgumentError(absl::StrCat("batch data is ", batch.data().size(), " bytes, shape [",
                                                   absl::StrJoin(batch.shape(), ","), "] needs ",
                                                   too_big ? "too many" : absl::StrCat(t.size() * elem)));
  }
  t.data = batch.data().data();
  return t;
}

}  // namespace imagefeed
