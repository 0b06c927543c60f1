#include "client/cli/stream_flags.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/cursor_token.h"

namespace imagefeed {
namespace {

// --normalize values, parallel to the enum's numbering from NONE on.
constexpr std::pair<const char*, v1::Normalization> kNormalizations[] = {
    {"none", v1::NORMALIZATION_NONE},
    {"rescale", v1::NORMALIZATION_RESCALE},
    {"standardize", v1::NORMALIZATION_STANDARDIZE},
    {"minmax", v1::NORMALIZATION_MINMAX},
    {"l2", v1::NORMALIZATION_L2},
    {"per_image_standardize", v1::NORMALIZATION_PER_IMAGE_STANDARDIZE},
    {"per_image_minmax", v1::NORMALIZATION_PER_IMAGE_MINMAX},
};

std::vector<std::string> NormalizationNames() {
  std::vector<std::string> names;
  for (const auto& [name, mode] : kNormalizations) names.push_back(name);
  return names;
}

// Parses "MIN,MAX" with 0 < MIN <= MAX (and MAX <= 1 if `at_most_one`).
absl::Status ParseRange(const std::string& flag, const std::string& text, bool at_most_one, const char* example,
                        float* lo, float* hi) {
  std::vector<std::string> parts = absl::StrSplit(text, ',');
  double a = 0, b = 0;
  if (parts.size() != 2 || !absl::SimpleAtod(parts[0], &a) || !absl::SimpleAtod(parts[1], &b) || !std::isfinite(a) ||
      !std::isfinite(b) || a <= 0 || a > b || (at_most_one && b > 1)) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": '", text, "' is not MIN,MAX with 0 < MIN <= MAX",
                                                   at_most_one ? " <= 1" : "", " (e.g. ", example, ")"));
  }
  *lo = static_cast<float>(a);
  *hi = static_cast<float>(b);
  return absl::OkStatus();
}

absl::Status SetSplit(const StreamFlags& f, v1::StreamBatchesRequest* r) {
  if (!(f.validation_split >= 0 && f.validation_split < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("--validation_split: ", f.validation_split, " is outside [0, 1)"));
  }
  if (f.validation_split > 0 && f.subset.empty()) {
    return absl::InvalidArgumentError("--validation_split needs --subset=training|validation");
  }
  if (f.validation_split == 0 && !f.subset.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--subset=", f.subset, " needs --validation_split > 0"));
  }
  r->set_validation_split(static_cast<float>(f.validation_split));
  if (!f.subset.empty()) r->set_subset(f.subset == "training" ? v1::SUBSET_TRAINING : v1::SUBSET_VALIDATION);
  r->set_split_seed(static_cast<uint64_t>(f.split_seed));
  return absl::OkStatus();
}

absl::Status SetAugmentation(const StreamFlags& f, const FlagSet& flags, v1::StreamBatchesRequest* r) {
  r->set_resize_mode(f.resize_mode == "shorter_side" ? v1::RESIZE_MODE_SHORTER_SIDE : v1::RESIZE_MODE_STRETCH);
  if (f.resize_size > 0) {
    if (f.resize_mode != "shorter_side") {
      return absl::InvalidArgumentError("--resize_size applies only with --resize_mode=shorter_side");
    }
    r->set_resize_size(static_cast<uint32_t>(f.resize_size));
  }
  r->set_random_flip(f.random_flip);
  r->set_random_resized_crop(f.random_resized_crop);
  for (const char* flag : {"crop_scale", "crop_ratio"}) {
    if (flags.IsSet(flag) && !f.random_resized_crop) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, " applies only with --random_resized_crop"));
    }
  }
  float lo = 0, hi = 0;
  if (!f.crop_scale.empty()) {
    if (absl::Status s = ParseRange("crop_scale", f.crop_scale, true, "0.08,1", &lo, &hi); !s.ok()) return s;
    r->set_crop_scale_min(lo);
    r->set_crop_scale_max(hi);
  }
  if (!f.crop_ratio.empty()) {
    if (absl::Status s = ParseRange("crop_ratio", f.crop_ratio, false, "0.75,1.3333", &lo, &hi); !s.ok()) return s;
    r->set_crop_ratio_min(lo);
    r->set_crop_ratio_max(hi);
  }
  return absl::OkStatus();
}

}  // namespace

std::string NormalizationName(v1::Normalization mode) {
  if (mode == v1::NORMALIZATION_UNSPECIFIED) return "rescale";
  for (const auto& [name, m] : kNormalizations) {
    if (m == mode) return name;
  }
  return absl::StrCat(static_cast<int>(mode));
}

void StreamFlags::Register(FlagSet* f) {
  f->AddString("dataset", &dataset, "dataset name (see 'imagefeed info')");
  f->AddInt("batch_size", &batch_size, "samples per batch", 1, 1 << 20);
  f->AddString("size", &size, "output HxW, e.g. 224x224; empty = each image's own size");
  f->AddEnum("resize_mode", &resize_mode,
             "how an image reaches --size: stretch each axis, or scale the shorter "
             "side and centre-crop",
             {"stretch", "shorter_side"});
  f->AddInt("resize_size", &resize_size,
            "with --resize_mode=shorter_side: scale the shorter side to N, then take the centred --size "
            "(torchvision Resize(N) + CenterCrop); 0 = scale straight to cover --size",
            0, UINT32_MAX);
  f->AddEnum("normalize", &normalize, "normalization; standardize and minmax use the dataset's fitted statistics",
             NormalizationNames());
  f->AddDouble("scale", &scale, "rescale: x*scale+offset");
  f->AddDouble("offset", &offset, "rescale: x*scale+offset");
  f->AddEnum("layout", &layout, "tensor layout", {"nchw", "nhwc"});
  f->AddEnum("dtype", &dtype,
             "element type. uint8: raw values; a rescale/standardize/minmax normalization is sent as per-channel "
             "input_scale/input_offset for the client to apply. float16/bfloat16: the normalized values, rounded",
             {"float32", "uint8", "float16", "bfloat16"});
  f->AddBool("shuffle", &shuffle, "shuffle with (seed, epoch)");
  f->AddInt("seed", &seed, "shuffle and augmentation seed", 0);
  f->AddInt("epoch", &epoch, "epoch number", 0);
  f->AddInt("rank", &rank, "this reader's rank", 0, UINT32_MAX);
  f->AddInt("world_size", &world_size, "number of ranks", 1, UINT32_MAX);
  f->AddInt("start", &start, "skip the first N samples of this rank's sequence (resume)", 0);
  f->AddBool("drop_last", &drop_last, "drop a short last batch");
  f->AddEnum("on_error", &on_error,
             "a sample that fails to decode: end the stream with DATA_LOSS naming the file, or leave it out and "
             "report it in its batch",
             {"fail", "skip"});
  f->AddBool("ignore_exif_orientation", &ignore_exif_orientation,
             "keep JPEGs as stored instead of turning them upright from their EXIF Orientation tag");
  f->AddDouble("validation_split", &validation_split,
               "fraction of the dataset held out as the validation subset (keras-style; needs --subset)");
  f->AddEnum("subset", &subset, "which side of --validation_split to read", {"training", "validation"});
  f->AddInt("split_seed", &split_seed, "seed of the validation split's permutation", 0);
  f->AddBool("random_flip", &random_flip, "flip each image horizontally with probability 1/2");
  f->AddBool("random_resized_crop", &random_resized_crop, "torchvision RandomResizedCrop to --size (needs --size)");
  f->AddString("crop_scale", &crop_scale, "random_resized_crop area fraction MIN,MAX [server default: 0.08,1]");
  f->AddString("crop_ratio", &crop_ratio, "random_resized_crop aspect ratio MIN,MAX [server default: 0.75,1.3333]");
  f->AddString("resume", &resume,
               "continue right after the batch this cursor token came from (printed as `cursor`; on any server, "
               "also with another --world_size); takes the cursor's epoch unless --epoch is given");
  f->AddEnum("even_shards", &even_shards,
             "give every rank the same number of samples: pad by wrapping around the order, or drop the remainder",
             {"none", "pad", "drop"});
  f->AddBool("fill_skipped", &fill_skipped,
             "replace a sample that fails by a deterministic stand-in so every batch is full [server default: on "
             "with --drop_last or --even_shards and a --size]");
  f->AddDouble("failover_timeout", &failover_timeout,
               "seconds to keep retrying when every server failed before giving up (several servers: a failed one "
               "is left out and the stream continues on the others); default 60 with several servers or a dns: "
               "target, 0 (fail at once, as always) with one address");
  f->AddDouble("progress_timeout", &progress_timeout,
               "seconds without a batch after which a server counts as failed (stopped, partitioned)");
}

FanInOptions StreamFlags::ToFanInOptions() const {
  FanInOptions o;
  auto ms = [](double seconds) {
    return std::chrono::milliseconds(static_cast<int64_t>(std::max(0.0, std::min(seconds, 1e9)) * 1000));
  };
  o.failover_timeout = ms(failover_timeout);
  o.progress_timeout = ms(progress_timeout);
  return o;
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
  } else if (random_resized_crop) {
    return absl::InvalidArgumentError("--random_resized_crop needs --size=HxW");
  }
  // Left unset unless given: the server's default is rescale, and for
  // dtype=uint8 unset means raw values.
  for (const auto& [name, mode] : kNormalizations) {
    if (flags.IsSet("normalize") && normalize == name) r.set_normalize(mode);
  }
  if (flags.IsSet("scale")) r.set_scale(static_cast<float>(scale));
  if (flags.IsSet("offset")) r.set_offset(static_cast<float>(offset));
  r.set_layout(layout == "nhwc" ? v1::LAYOUT_NHWC : v1::LAYOUT_NCHW);
  for (const auto& [name, value] : {std::pair{"float32", v1::DTYPE_FLOAT32}, std::pair{"uint8", v1::DTYPE_UINT8},
                                    std::pair{"float16", v1::DTYPE_FLOAT16}, std::pair{"bfloat16", v1::DTYPE_BFLOAT16}}) {
    if (dtype == name) r.set_dtype(value);
  }
  r.set_shuffle(shuffle);
  r.set_seed(static_cast<uint64_t>(seed));
  r.set_epoch(static_cast<uint64_t>(epoch));
  if (rank >= world_size) {
    return absl::InvalidArgumentError(absl::StrCat("--rank=", rank, " must be < --world_size=", world_size));
  }
  r.set_rank(static_cast<uint32_t>(rank));
  r.set_world_size(static_cast<uint32_t>(world_size));
  r.set_start(static_cast<uint64_t>(start));
  r.set_drop_last(drop_last);
  r.set_on_error(on_error == "skip" ? v1::ON_ERROR_SKIP : v1::ON_ERROR_FAIL);
  r.set_ignore_exif_orientation(ignore_exif_orientation);
  if (absl::Status s = SetSplit(*this, &r); !s.ok()) return s;
  if (absl::Status s = SetAugmentation(*this, flags, &r); !s.ok()) return s;
  if (!even_shards.empty()) {
    r.set_even_shards(even_shards == "pad"    ? v1::EVEN_SHARDS_PAD
                      : even_shards == "drop" ? v1::EVEN_SHARDS_DROP
                                              : v1::EVEN_SHARDS_NONE);
  }
  if (flags.IsSet("fill_skipped")) r.set_fill_skipped(fill_skipped);
  if (!(failover_timeout >= 0 && std::isfinite(failover_timeout))) {
    return absl::InvalidArgumentError(absl::StrCat("--failover_timeout: ", failover_timeout, " must be >= 0 seconds"));
  }
  if (!(progress_timeout > 0 && std::isfinite(progress_timeout))) {
    return absl::InvalidArgumentError(absl::StrCat("--progress_timeout: ", progress_timeout, " must be > 0 seconds"));
  }
  if (!resume.empty()) {
    absl::StatusOr<v1::Cursor> cursor = DecodeCursor(resume, "--resume");
    if (!cursor.ok()) return cursor.status();
    if (start != 0) return absl::InvalidArgumentError("--start and --resume are exclusive: the cursor says where to continue");
    if (flags.IsSet("epoch") && static_cast<uint64_t>(epoch) != cursor->epoch()) {
      return absl::InvalidArgumentError(absl::StrCat("--resume: the cursor is for epoch ", cursor->epoch(),
                                                     ", not --epoch=", epoch, " (leave --epoch out to take the cursor's)"));
    }
    r.set_epoch(cursor->epoch());
    *r.mutable_resume() = *std::move(cursor);
  }
  return r;
}

}  // namespace imagefeed
