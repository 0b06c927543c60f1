#include "client/cli/stream_flags.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace imagefeed {

void StreamFlags::Register(FlagSet* f) {
  f->AddString("dataset", &dataset, "dataset name (see 'imagefeed info')");
  f->AddInt("batch_size", &batch_size, "samples per batch", 1, 1 << 20);
  f->AddString("size", &size, "output HxW, e.g. 224x224; empty = each image's own size");
  f->AddEnum("normalize", &normalize, "normalization", {"none", "rescale"});
  f->AddDouble("scale", &scale, "rescale: x*scale+offset");
  f->AddDouble("offset", &offset, "rescale: x*scale+offset");
  f->AddEnum("layout", &layout, "tensor layout", {"nchw", "nhwc"});
  f->AddEnum("dtype", &dtype, "element type (uint8: raw values, no normalization)", {"float32", "uint8"});
  f->AddBool("shuffle", &shuffle, "shuffle with (seed, epoch)");
  f->AddInt("seed", &seed, "shuffle seed", 0);
  f->AddInt("epoch", &epoch, "epoch number", 0);
  f->AddInt("rank", &rank, "this reader's rank", 0, UINT32_MAX);
  f->AddInt("world_size", &world_size, "number of ranks", 1, UINT32_MAX);
  f->AddInt("start", &start, "skip the first N samples of this rank's sequence (resume)", 0);
  f->AddBool("drop_last", &drop_last, "drop a short last batch");
  f->AddEnum("on_error", &on_error, "a sample that fails to decode", {"fail", "skip"});
}

absl::StatusOr<v1::StreamBatchesRequest> StreamFlags::ToRequest(const FlagSet& flags) const {
  if (dataset.empty()) return absl::InvalidArgumentError("--dataset is required (see 'imagefeed info')");
  v1::StreamBatchesRequest r;
  r.set_dataset(dataset);
  r.set_batch_size(static_cast<uint32_t>(batch_size));
  if (!size.empty()) {
    std::vector<std::string> parts = absl::StrSplit(size, 'x');
    uint32_t h = 0, w = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &h) || !absl::SimpleAtoi(parts[1], &w) || h == 0 || w == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--size: '", size, "' is not HxW with H, W > 0 (e.g. 224x224)"));
    }
    r.set_height(h);
    r.set_width(w);
  }
  r.set_normalize(normalize == "none" ? v1::NORMALIZATION_NONE : v1::NORMALIZATION_RESCALE);
  if (flags.IsSet("scale")) r.set_scale(static_cast<float>(scale));
  if (flags.IsSet("offset")) r.set_offset(static_cast<float>(offset));
  r.set_layout(layout == "nhwc" ? v1::LAYOUT_NHWC : v1::LAYOUT_NCHW);
  r.set_dtype(dtype == "uint8" ? v1::DTYPE_UINT8 : v1::DTYPE_FLOAT32);
  r.set_shuffle(shuffle);
  r.set_seed(static_cast<uint64_t>(seed));
  r.set_epoch(static_cast<uint64_t>(epoch));
  r.set_rank(static_cast<uint32_t>(rank));
  r.set_world_size(static_cast<uint32_t>(world_size));
  r.set_start(static_cast<uint64_t>(start));
  r.set_drop_last(drop_last);
  r.set_on_error(on_error == "skip" ? v1::ON_ERROR_SKIP : v1::ON_ERROR_FAIL);
  return r;
}

}  // namespace imagefeed
