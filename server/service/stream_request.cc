#include "server/service/stream_request.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/fingerprint.h"
#include "common/status_macros.h"
#include "server/pipeline/sample_order.h"

namespace imagefeed {
namespace {

absl::StatusOr<NormalizeParams> PlanNormalize(const v1::StreamBatchesRequest& r) {
  NormalizeParams p;
  switch (r.normalize()) {
    case v1::NORMALIZATION_NONE:
      p.mode = NormalizeMode::kNone;
      break;
    case v1::NORMALIZATION_UNSPECIFIED:
    case v1::NORMALIZATION_RESCALE:
      p.mode = NormalizeMode::kRescale;
      break;
    case v1::NORMALIZATION_STANDARDIZE:
      p.mode = NormalizeMode::kStandardize;
      break;
    case v1::NORMALIZATION_MINMAX:
      p.mode = NormalizeMode::kMinMax;
      break;
    case v1::NORMALIZATION_L2:
      p.mode = NormalizeMode::kL2;
      break;
    case v1::NORMALIZATION_PER_IMAGE_STANDARDIZE:
      p.mode = NormalizeMode::kPerImageStandardize;
      break;
    case v1::NORMALIZATION_PER_IMAGE_MINMAX:
      p.mode = NormalizeMode::kPerImageMinMax;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("normalize: unknown value ", r.normalize()));
  }
  if (r.has_scale()) {
    if (!std::isfinite(r.scale())) return absl::InvalidArgumentError("scale must be finite");
    p.scale = r.scale();
  }
  if (r.has_offset()) {
    if (!std::isfinite(r.offset())) return absl::InvalidArgumentError("offset must be finite");
    p.offset = r.offset();
  }
  if ((r.has_scale() || r.has_offset()) && p.mode != NormalizeMode::kRescale) {
    return absl::InvalidArgumentError("scale and offset apply only to normalize=RESCALE");
  }
  return p;
}

absl::Status PlanAugment(const v1::StreamBatchesRequest& r, bool native, AugmentOptions* a) {
  a->random_flip = r.random_flip();
  a->random_resized_crop = r.random_resized_crop();
  const bool has_crop_fields =
      r.has_crop_scale_min() || r.has_crop_scale_max() || r.has_crop_ratio_min() || r.has_crop_ratio_max();
  if (!a->random_resized_crop) {
    if (has_crop_fields) return absl::InvalidArgumentError("crop_scale_*/crop_ratio_* need random_resized_crop");
    return absl::OkStatus();
  }
  if (native) return absl::InvalidArgumentError("random_resized_crop needs a size (height and width)");
  if (r.has_crop_scale_min()) a->scale_min = r.crop_scale_min();
  if (r.has_crop_scale_max()) a->scale_max = r.crop_scale_max();
  if (r.has_crop_ratio_min()) a->ratio_min = r.crop_ratio_min();
  if (r.has_crop_ratio_max()) a->ratio_max = r.crop_ratio_max();
  if (!(a->scale_min > 0 && a->scale_min <= a->scale_max && a->scale_max <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("crop scale range [", a->scale_min, ", ", a->scale_max, "] must satisfy 0 < min <= max <= 1"));
  }
  if (!(a->ratio_min > 0 && a->ratio_min <= a->ratio_max && std::isfinite(a->ratio_max))) {
    return absl::InvalidArgumentError(
        absl::StrCat("crop ratio range [", a->ratio_min, ", ", a->ratio_max, "] must satisfy 0 < min <= max"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SampleTransform> PlanTransform(const v1::StreamBatchesRequest& r, const ServerLimits& limits) {
  SampleTransform t;
  const bool native = r.height() == 0 && r.width() == 0;
  if (!native) {
    if (r.height() == 0 || r.width() == 0) {
      return absl::InvalidArgumentError(absl::StrCat("size ", r.height(), "x", r.width(),
                                                     " (height x width): both must be > 0, or both 0 for "
                                                     "each image's own size"));
    }
    if (r.height() > limits.max_side || r.width() > limits.max_side) {
      return absl::InvalidArgumentError(absl::StrCat("size ", r.height(), "x", r.width(),
                                                     " exceeds the server's limit max_side=", limits.max_side));
    }
    t.out_height = static_cast<int>(r.height());
    t.out_width = static_cast<int>(r.width());
  }
  ASSIGN_OR_RETURN(t.normalize, PlanNormalize(r));
  switch (r.layout()) {
    case v1::LAYOUT_UNSPECIFIED:
    case v1::LAYOUT_NCHW:
      t.layout = TensorLayout::kNCHW;
      break;
    case v1::LAYOUT_NHWC:
      t.layout = TensorLayout::kNHWC;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("layout: unknown value ", r.layout()));
  }
  switch (r.dtype()) {
    case v1::DTYPE_UNSPECIFIED:
    case v1::DTYPE_FLOAT32:
      t.dtype = OutputDType::kFloat32;
      break;
    case v1::DTYPE_UINT8:
      t.dtype = OutputDType::kUint8;
      break;
    case v1::DTYPE_FLOAT16:
      t.dtype = OutputDType::kFloat16;
      break;
    case v1::DTYPE_BFLOAT16:
      t.dtype = OutputDType::kBFloat16;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("dtype: unknown value ", r.dtype()));
  }
  t.decode.max_pixels = limits.max_pixels;
  t.decode.jpeg_ycc_resize = limits.jpeg_ycc_resize;
  t.decode.apply_exif_orientation = !r.ignore_exif_orientation();
  if (t.dtype == OutputDType::kUint8) {
    // Raw values; a per-channel affine normalization travels as the batch's
    // input_scale/input_offset. Unset (without scale/offset) means raw
    // values here, not RESCALE's 1/255.
    if (r.normalize() == v1::NORMALIZATION_UNSPECIFIED && !r.has_scale() && !r.has_offset()) {
      t.normalize.mode = NormalizeMode::kNone;
    }
    std::array<float, 3> unused_scale, unused_offset;
    if (!ChannelAffine(t.normalize, &unused_scale, &unused_offset)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dtype=UINT8 sends raw values and carries a per-channel normalization for the client to apply; normalize=",
          v1::Normalization_Name(r.normalize()),
          " depends on each image: use dtype FLOAT32, FLOAT16 or BFLOAT16, or normalize NONE, RESCALE, "
          "STANDARDIZE or MINMAX"));
    }
  }
  switch (r.resize_mode()) {
    case v1::RESIZE_MODE_UNSPECIFIED:
    case v1::RESIZE_MODE_STRETCH:
      t.augment.resize_mode = ResizeMode::kStretch;
      break;
    case v1::RESIZE_MODE_SHORTER_SIDE:
      t.augment.resize_mode = ResizeMode::kShorterSide;
      if (native) return absl::InvalidArgumentError("resize_mode=SHORTER_SIDE needs a size (height and width)");
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("resize_mode: unknown value ", r.resize_mode()));
  }
  if (r.resize_size() > 0) {
    if (t.augment.resize_mode != ResizeMode::kShorterSide || r.random_resized_crop()) {
      return absl::InvalidArgumentError(
          "resize_size applies only with resize_mode=SHORTER_SIDE and without random_resized_crop");
    }
    if (r.resize_size() < r.height() || r.resize_size() < r.width() || r.resize_size() > limits.max_side) {
      return absl::InvalidArgumentError(absl::StrCat("resize_size=", r.resize_size(), " must be >= height (",
                                                     r.height(), ") and width (", r.width(),
                                                     ") and <= the server's limit max_side=", limits.max_side));
    }
    t.augment.resize_size = static_cast<int>(r.resize_size());
  }
  RETURN_IF_ERROR(PlanAugment(r, native, &t.augment));
  t.seed = r.seed();
  t.epoch = r.epoch();
  return t;
}

absl::StatusOr<EvenShards> PlanEvenShards(v1::EvenShards e) {
  switch (e) {
    case v1::EVEN_SHARDS_UNSPECIFIED:
    case v1::EVEN_SHARDS_NONE:
      return EvenShards::kNone;
    case v1::EVEN_SHARDS_PAD:
      return EvenShards::kPad;
    case v1::EVEN_SHARDS_DROP:
      return EvenShards::kDrop;
    default:
      return absl::InvalidArgumentError(absl::StrCat("even_shards: unknown value ", e));
  }
}

// Moves `order` to where the cursor left off: the same ranks continue their
// own sequences; another world size splits what follows the cursor's global
// position (every rank having delivered `position` positions).
absl::Status ApplyCursor(const v1::StreamBatchesRequest& r, const std::string& order_fingerprint, OrderSpec* order) {
  const v1::Cursor& c = r.resume();
  if (r.start() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("start=", r.start(), " and resume are exclusive: the cursor says where to continue"));
  }
  if (c.world_size() == 0) return absl::InvalidArgumentError("resume.world_size must be >= 1");
  if (c.epoch() != r.epoch()) {
    return absl::InvalidArgumentError(absl::StrCat("resume: the cursor is for epoch ", c.epoch(),
                                                   ", the request asks for epoch ", r.epoch()));
  }
  if (c.order_fingerprint() != order_fingerprint) {
    return absl::FailedPreconditionError(absl::StrCat(
        "resume: the cursor belongs to another dataset or order (cursor order ", c.order_fingerprint().substr(0, 16),
        ", this request on this server ", order_fingerprint.substr(0, 16),
        "); the dataset content, shuffle, seed and validation split must be the ones the cursor was taken with"));
  }
  ASSIGN_OR_RETURN(EvenShards cursor_even, PlanEvenShards(c.even_shards()));
  if (cursor_even != order->even_shards) {
    return absl::InvalidArgumentError(
        "resume: the cursor was taken with another even_shards mode; positions count differently");
  }
  if (c.world_size() == order->world_size) {
    order->global_start = c.global_start();
    order->start = c.position();
    return absl::OkStatus();
  }
  const uint64_t limit = uint64_t{1} << 62;
  if (c.position() > limit / c.world_size() || c.global_start() > limit) {
    return absl::InvalidArgumentError("resume: cursor position out of range");
  }
  order->global_start = c.global_start() + c.position() * c.world_size();
  order->start = 0;
  return absl::OkStatus();
}

}  // namespace

std::string OrderFingerprint(const v1::StreamBatchesRequest& r, const DatasetIndex& dataset) {
  Fingerprint f;
  f.Add("imagefeed order v1");
  f.Add(dataset.content_fingerprint());
  f.Add(r.shuffle() ? absl::StrCat("shuffle:", r.seed()) : "ordered");
  f.Add(absl::StrCat("split:", r.validation_split(), ":", r.subset(), ":", r.split_seed()));
  return f.Hex();
}

bool NeedsDatasetStats(const v1::StreamBatchesRequest& r) {
  return r.normalize() == v1::NORMALIZATION_STANDARDIZE || r.normalize() == v1::NORMALIZATION_MINMAX;
}

absl::StatusOr<BatchPlan> PlanStream(const v1::StreamBatchesRequest& r, std::shared_ptr<const DatasetIndex> dataset,
                                     ColorMode color_mode, const ServerLimits& limits) {
  BatchPlan plan;
  if (r.batch_size() < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size must be >= 1 (got ", r.batch_size(), ")"));
  }
  if (r.batch_size() > limits.max_batch_size) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size ", r.batch_size(),
                                                   " exceeds the server's limit max_batch_size=",
                                                   limits.max_batch_size));
  }
  ASSIGN_OR_RETURN(plan.transform, PlanTransform(r, limits));
  plan.transform.out_channels = ChannelsOf(color_mode);
  if (plan.transform.out_height > 0) {
    const int64_t bytes = static_cast<int64_t>(r.batch_size()) *
                          static_cast<int64_t>(plan.transform.SampleBytes(plan.transform.out_height,
                                                                          plan.transform.out_width));
    if (bytes > limits.max_batch_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a batch of ", r.batch_size(), " x ", plan.transform.out_channels, " x ", r.height(), " x ", r.width(),
          " ", OutputDTypeName(plan.transform.dtype), " is ", bytes,
          " bytes, above the server's cap max_batch_bytes=", limits.max_batch_bytes,
          "; use a smaller batch_size or size"));
    }
  }
  switch (r.on_error()) {
    case v1::ON_ERROR_FAIL:
      plan.on_error = OnError::kFail;
      break;
    case v1::ON_ERROR_UNSPECIFIED:
    case v1::ON_ERROR_SKIP:
      plan.on_error = OnError::kSkip;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("on_error: unknown value ", r.on_error()));
  }
  if (r.has_max_skip_fraction()) {
    if (!(r.max_skip_fraction() >= 0 && r.max_skip_fraction() <= 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("max_skip_fraction must be in [0, 1] (got ", r.max_skip_fraction(), ")"));
    }
    plan.max_skip_fraction = r.max_skip_fraction();
  }
  OrderSpec order;
  order.num_samples = dataset->num_samples();
  order.shuffle = r.shuffle();
  order.seed = r.seed();
  order.epoch = r.epoch();
  order.rank = r.rank();
  order.world_size = r.world_size() == 0 ? 1 : r.world_size();
  order.start = r.start();
  if (!std::isfinite(r.validation_split())) return absl::InvalidArgumentError("validation_split must be finite");
  order.validation_split = r.validation_split();
  switch (r.subset()) {
    case v1::SUBSET_UNSPECIFIED:
      order.subset = SplitSubset::kAll;
      break;
    case v1::SUBSET_TRAINING:
      order.subset = SplitSubset::kTraining;
      break;
    case v1::SUBSET_VALIDATION:
      order.subset = SplitSubset::kValidation;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("subset: unknown value ", r.subset()));
  }
  order.split_seed = r.split_seed();
  ASSIGN_OR_RETURN(order.even_shards, PlanEvenShards(r.even_shards()));
  const uint32_t fan_in_count = r.fan_in_count() == 0 ? 1 : r.fan_in_count();
  if (r.fan_in_index() >= fan_in_count) {
    return absl::InvalidArgumentError(
        absl::StrCat("fan_in_index ", r.fan_in_index(), " must be < fan_in_count ", fan_in_count));
  }
  const std::string order_fingerprint = OrderFingerprint(r, *dataset);
  if (r.has_resume()) RETURN_IF_ERROR(ApplyCursor(r, order_fingerprint, &order));
  const bool fixed_size = plan.transform.out_height > 0;
  plan.fill_skipped = r.has_fill_skipped()
                          ? r.fill_skipped()
                          : (r.drop_last() || order.even_shards != EvenShards::kNone) && fixed_size &&
                                plan.on_error == OnError::kSkip;
  if (plan.fill_skipped && (!fixed_size || plan.on_error != OnError::kSkip)) {
    return absl::InvalidArgumentError(
        "fill_skipped needs a size (height and width) and on_error=SKIP: a replacement must fit the batch");
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> subset,
                   SplitIds(dataset->num_samples(), order.validation_split, order.subset, order.split_seed));
  ASSIGN_OR_RETURN(std::vector<int64_t> rank_ids, RankSequence(order));
  const RankExtent extent = RankExtentOf(order, static_cast<int64_t>(subset.size()));
  plan.batches = SliceBatches(rank_ids, order.start, static_cast<int>(r.batch_size()), r.drop_last(), fan_in_count,
                              r.fan_in_index(), &plan.sequence);
  plan.first_position = order.start;
  plan.rank_positions = extent.positions;
  plan.first_padded = extent.first_padded;
  if (plan.fill_skipped && !subset.empty()) {
    plan.replacement_pool = std::make_shared<const std::vector<int64_t>>(std::move(subset));
    plan.replacement_seed = MixSeed(r.seed(), r.epoch(), 0xf111ed);
  } else {
    plan.fill_skipped = false;
  }
  auto identity = std::make_shared<StreamIdentity>();
  identity->dataset_fingerprint = dataset->content_fingerprint();
  identity->order_fingerprint = order_fingerprint;
  identity->global_start = order.global_start;
  identity->rank = order.rank;
  identity->world_size = order.world_size;
  identity->even_shards = order.even_shards;
  plan.identity = std::move(identity);
  plan.dataset = std::move(dataset);
  plan.epoch = r.epoch();
  plan.batch_size = static_cast<int>(r.batch_size());
  plan.max_batch_bytes = limits.max_batch_bytes;
  // Enough batches in flight to keep every worker busy while one batch is on
  // the wire, but never more than ~128 MB of one stream's output buffered.
  const int64_t batch_bytes = std::max<int64_t>(
      1, static_cast<int64_t>(r.batch_size()) *
             static_cast<int64_t>(plan.transform.out_height > 0
                                      ? plan.transform.SampleBytes(plan.transform.out_height, plan.transform.out_width)
                                      : 3 * 256 * 256 * 4));
  int by_threads = static_cast<int>((2 * limits.threads + r.batch_size() - 1) / r.batch_size()) + 1;
  int by_memory = static_cast<int>(std::max<int64_t>(1, (int64_t{128} << 20) / batch_bytes));
  plan.max_batches_in_flight = std::clamp(std::min(by_threads, by_memory), 2, 16);
  return plan;
}

}  // namespace imagefeed
