#include "client/cli/batch_summary.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/cursor_token.h"
#include "common/batch_tensor.h"
#include "common/json_writer.h"

namespace imagefeed {

std::string DTypeName(v1::DType dtype) {
  switch (dtype) {
    case v1::DTYPE_UINT8:
      return "uint8";
    case v1::DTYPE_FLOAT16:
      return "float16";
    case v1::DTYPE_BFLOAT16:
      return "bfloat16";
    default:
      return "float32";
  }
}

absl::StatusOr<ChannelSummary> SummarizeBatch(const v1::Batch& batch) {
  absl::StatusOr<BatchTensor> t = ViewBatch(batch);
  if (!t.ok()) return t.status();
  const int64_t c = t->c;
  std::vector<double> sum(c, 0), sum_sq(c, 0);
  ChannelSummary s;
  s.min.assign(c, std::numeric_limits<double>::infinity());
  s.max.assign(c, -std::numeric_limits<double>::infinity());
  for (int64_t i = 0; i < t->size(); ++i) {
    const int64_t ch = t->ChannelOf(i);
    const double v = t->AtFlat(i);
    sum[ch] += v;
    sum_sq[ch] += v * v;
    s.min[ch] = std::min(s.min[ch], v);
    s.max[ch] = std::max(s.max[ch], v);
  }
  const double count = static_cast<double>(t->n * t->h * t->w);
  for (int64_t ch = 0; ch < c; ++ch) {
    double mean = count > 0 ? sum[ch] / count : 0;
    s.mean.push_back(mean);
    s.std.push_back(count > 0 ? std::sqrt(std::max(0.0, sum_sq[ch] / count - mean * mean)) : 0);
    if (count == 0) s.min[ch] = s.max[ch] = 0;
  }
  return s;
}

std::string BatchJson(const v1::Batch& batch, const ChannelSummary& summary) {
  JsonWriter j;
  j.BeginObject();
  j.Key("epoch");
  j.Int(static_cast<int64_t>(batch.epoch()));
  j.Key("position");
  j.Int(static_cast<int64_t>(batch.position()));
  j.IntArray("shape", {batch.shape().begin(), batch.shape().end()});
  j.Key("dtype");
  j.String(DTypeName(batch.dtype()));
  j.IntArray("labels", {batch.labels().begin(), batch.labels().end()});
  j.IntArray("sample_ids", {batch.sample_ids().begin(), batch.sample_ids().end()});
  j.DoubleArray("mean", summary.mean);
  j.DoubleArray("std", summary.std);
  j.DoubleArray("min", summary.min);
  j.DoubleArray("max", summary.max);
  if (batch.input_scale_size() > 0) {  // raw uint8: model input = value * scale + offset
    j.DoubleArray("input_scale", {batch.input_scale().begin(), batch.input_scale().end()});
    j.DoubleArray("input_offset", {batch.input_offset().begin(), batch.input_offset().end()});
  }
  j.Key("skipped");
  j.BeginArray();
  for (const auto& s : batch.skipped()) {
    j.BeginObject();
    j.Key("sample_id");
    j.Int(s.sample_id());
    j.Key("path");
    j.String(s.path());
    j.Key("reason");
    j.String(s.reason());
    j.EndObject();
  }
  j.EndArray();
  if (batch.has_cursor()) {  // servers before the cursor (issue #10) send none
    j.Key("cursor");
    j.String(EncodeCursor(batch.cursor()));
  }
  j.EndObject();
  return j.str();
}

std::string BatchLine(const v1::Batch& batch, const ChannelSummary& summary) {
  auto fmt = [](const std::vector<double>& v) {
    return absl::StrCat("[", absl::StrJoin(v, ",", [](std::string* out, double d) {
                          absl::StrAppend(out, absl::StrFormat("%.4f", d));
                        }),
                        "]");
  };
  std::string line = absl::StrCat("epoch ", batch.epoch(), " position ", batch.position(), " shape [",
                                  absl::StrJoin(batch.shape(), ","), "] ", DTypeName(batch.dtype()), " labels [",
                                  absl::StrJoin(batch.labels(), ","), "] mean ", fmt(summary.mean), " std ",
                                  fmt(summary.std));
  if (batch.skipped_size() > 0) {
    absl::StrAppend(&line, " skipped ", batch.skipped_size(), " (first: ", batch.skipped(0).path(), ": ",
                    batch.skipped(0).reason(), ")");
  }
  return line;
}

}  // namespace imagefeed
