#include "client/cli/stream_flags.h"

#include <set>

#include "common/test_support.h"

namespace imagefeed {
namespace {

// Parses `args` (plus --dataset=d) as a streaming command would.
absl::StatusOr<v1::StreamBatchesRequest> Request(std::vector<std::string> args) {
  StreamFlags stream;
  FlagSet flags("imagefeed test", "test");
  stream.Register(&flags);
  args.push_back("--dataset=d");
  if (absl::Status s = flags.Parse(args); !s.ok()) return s;
  return stream.ToRequest(flags);
}

TEST(StreamFlagsTest, DefaultsLeaveTheNewOptionsOff) {
  ASSERT_OK_AND_ASSIGN(v1::StreamBatchesRequest r, Request({}));
  EXPECT_EQ(r.dataset(), "d");
  EXPECT_EQ(r.normalize(), v1::NORMALIZATION_UNSPECIFIED);  // the server's default: rescale
  EXPECT_FALSE(r.has_scale());
  EXPECT_EQ(r.on_error(), v1::ON_ERROR_SKIP);
  EXPECT_FALSE(r.ignore_exif_orientation());
  EXPECT_EQ(r.validation_split(), 0);
  EXPECT_EQ(r.subset(), v1::SUBSET_UNSPECIFIED);
  EXPECT_EQ(r.resize_mode(), v1::RESIZE_MODE_STRETCH);
  EXPECT_FALSE(r.random_flip());
  EXPECT_FALSE(r.random_resized_crop());
  EXPECT_FALSE(r.has_crop_scale_min());
  EXPECT_FALSE(r.has_crop_ratio_min());
}

TEST(StreamFlagsTest, EveryNormalizationMapsToItsOwnModeAndBack) {
  std::set<int> modes;
  for (const char* name :
       {"none", "rescale", "standardize", "minmax", "l2", "per_image_standardize", "per_image_minmax"}) {
    ASSERT_OK_AND_ASSIGN(v1::StreamBatchesRequest r, Request({absl::StrCat("--normalize=", name)}));
    modes.insert(r.normalize());
    EXPECT_EQ(NormalizationName(r.normalize()), name);
  }
  EXPECT_EQ(modes.size(), 7u);
  EXPECT_EQ(modes.count(v1::NORMALIZATION_UNSPECIFIED), 0u);
}

TEST(StreamFlagsTest, BadEnumValuesNameTheFlagAndTheAllowedValues) {
  EXPECT_THAT(Request({"--normalize=zscore"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--normalize: 'zscore' is not one of none, rescale, standardize, minmax, l2, "
                       "per_image_standardize, per_image_minmax"));
  EXPECT_THAT(Request({"--subset=test"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "--subset: 'test' is not one of training, validation"));
  EXPECT_THAT(Request({"--resize_mode=crop"}), StatusIs(absl::StatusCode::kInvalidArgument,
                                                        "--resize_mode: 'crop' is not one of stretch, shorter_side"));
}

TEST(StreamFlagsTest, ValidationSplitNeedsASubsetAndTheReverse) {
  ASSERT_OK_AND_ASSIGN(v1::StreamBatchesRequest r,
                       Request({"--validation_split=0.2", "--subset=validation", "--split_seed=7"}));
  EXPECT_FLOAT_EQ(r.validation_split(), 0.2f);
  EXPECT_EQ(r.subset(), v1::SUBSET_VALIDATION);
  EXPECT_EQ(r.split_seed(), 7u);
  ASSERT_OK_AND_ASSIGN(r, Request({"--validation_split=0.5", "--subset=training"}));
  EXPECT_EQ(r.subset(), v1::SUBSET_TRAINING);
  EXPECT_THAT(Request({"--validation_split=0.2"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "--validation_split needs --subset=training|validation"));
  EXPECT_THAT(Request({"--subset=training"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "--subset=training needs --validation_split > 0"));
  EXPECT_THAT(Request({"--validation_split=1", "--subset=training"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "--validation_split: 1 is outside [0, 1)"));
}

TEST(StreamFlagsTest, AugmentationAndResizeMode) {
  ASSERT_OK_AND_ASSIGN(v1::StreamBatchesRequest r,
                       Request({"--size=32x48", "--resize_mode=shorter_side", "--random_flip", "--random_resized_crop",
                                "--crop_scale=0.5,1", "--crop_ratio=0.75,1.5"}));
  EXPECT_EQ(r.resize_mode(), v1::RESIZE_MODE_SHORTER_SIDE);
  EXPECT_TRUE(r.random_flip());
  EXPECT_TRUE(r.random_resized_crop());
  EXPECT_FLOAT_EQ(r.crop_scale_min(), 0.5f);
  EXPECT_FLOAT_EQ(r.crop_scale_max(), 1.0f);
  EXPECT_FLOAT_EQ(r.crop_ratio_min(), 0.75f);
  EXPECT_FLOAT_EQ(r.crop_ratio_max(), 1.5f);
  // Unset ranges leave the server's defaults.
  ASSERT_OK_AND_ASSIGN(r, Request({"--size=8x8", "--random_resized_crop"}));
  EXPECT_FALSE(r.has_crop_scale_min());
  EXPECT_FALSE(r.has_crop_ratio_max());
}

TEST(StreamFlagsTest, ResizeSize) {
  ASSERT_OK_AND_ASSIGN(v1::StreamBatchesRequest r,
                       Request({"--size=224x224", "--resize_mode=shorter_side", "--resize_size=256"}));
  EXPECT_EQ(r.resize_size(), 256u);
  ASSERT_OK_AND_ASSIGN(r, Request({"--size=224x224", "--resize_mode=shorter_side"}));
  EXPECT_EQ(r.resize_size(), 0u);
  EXPECT_THAT(Request({"--size=224x224", "--resize_size=256"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "--resize_size applies only with --resize_mode=shorter_side"));
}

TEST(StreamFlagsTest, BadCropOptionsNameTheFlag) {
  EXPECT_THAT(Request({"--size=8x8", "--random_resized_crop", "--crop_scale=1,0.5"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "--crop_scale: '1,0.5' is not MIN,MAX"));
  EXPECT_THAT(Request({"--size=8x8", "--random_resized_crop", "--crop_scale=0.5,2"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "MAX <= 1"));
  EXPECT_THAT(Request({"--size=8x8", "--random_resized_crop", "--crop_ratio=abc"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "--crop_ratio: 'abc' is not MIN,MAX"));
  EXPECT_THAT(Request({"--size=8x8", "--crop_scale=0.5,1"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "--crop_scale applies only with --random_resized_crop"));
  EXPECT_THAT(Request({"--random_resized_crop"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "--random_resized_crop needs --size=HxW"));
}

TEST(StreamFlagsTest, OnErrorAndExifOrientation) {
  ASSERT_OK_AND_ASSIGN(v1::StreamBatchesRequest r, Request({"--on_error=fail", "--ignore_exif_orientation"}));
  EXPECT_EQ(r.on_error(), v1::ON_ERROR_FAIL);
  EXPECT_TRUE(r.ignore_exif_orientation());
}

TEST(StreamFlagsTest, EveryDTypeMapsToItsEnum) {
  const std::pair<const char*, v1::DType> dtypes[] = {{"float32", v1::DTYPE_FLOAT32},
                                                      {"uint8", v1::DTYPE_UINT8},
                                                      {"float16", v1::DTYPE_FLOAT16},
                                                      {"bfloat16", v1::DTYPE_BFLOAT16}};
  for (auto [name, dtype] : dtypes) {
    ASSERT_OK_AND_ASSIGN(v1::StreamBatchesRequest r, Request({absl::StrCat("--dtype=", name)}));
    EXPECT_EQ(r.dtype(), dtype) << name;
  }
  EXPECT_THAT(Request({"--dtype=half"}), StatusIs(absl::StatusCode::kInvalidArgument,
                                                  "--dtype: 'half' is not one of float32, uint8, float16, bfloat16"));
}

TEST(StreamFlagsTest, RankMustBeBelowWorldSize) {
  EXPECT_THAT(Request({"--rank=3", "--world_size=3"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "--rank=3 must be < --world_size=3"));
}

TEST(StreamFlagsTest, ScaleOutFlagsSetTheRequest) {
  ASSERT_OK_AND_ASSIGN(v1::StreamBatchesRequest plain, Request({}));
  EXPECT_EQ(plain.even_shards(), v1::EVEN_SHARDS_UNSPECIFIED);
  EXPECT_FALSE(plain.has_fill_skipped());
  EXPECT_FALSE(plain.has_resume());
  ASSERT_OK_AND_ASSIGN(v1::StreamBatchesRequest pad, Request({"--even_shards=pad", "--fill_skipped=false"}));
  EXPECT_EQ(pad.even_shards(), v1::EVEN_SHARDS_PAD);
  ASSERT_TRUE(pad.has_fill_skipped());
  EXPECT_FALSE(pad.fill_skipped());
  ASSERT_OK_AND_ASSIGN(v1::StreamBatchesRequest drop, Request({"--even_shards=drop", "--fill_skipped"}));
  EXPECT_EQ(drop.even_shards(), v1::EVEN_SHARDS_DROP);
  EXPECT_TRUE(drop.fill_skipped());
}

TEST(StreamFlagsTest, ResumeTakesTheCursorsEpoch) {
  // Cursor{epoch: 5, world_size: 2, position: 300, order_fingerprint: "ab"} encoded by hand:
  // 08 05 18 02 28 ac 02 32 02 61 62 in URL-safe base64 without padding.
  const std::string token = "ifc1.CAUYAiisAjICYWI";
  ASSERT_OK_AND_ASSIGN(v1::StreamBatchesRequest r, Request({"--resume=" + token}));
  EXPECT_EQ(r.epoch(), 5u);
  EXPECT_EQ(r.resume().position(), 300u);
  EXPECT_EQ(r.resume().world_size(), 2u);
  EXPECT_EQ(r.resume().order_fingerprint(), "ab");
  ASSERT_OK_AND_ASSIGN(v1::StreamBatchesRequest same, Request({"--resume=" + token, "--epoch=5"}));
  EXPECT_EQ(same.epoch(), 5u);
  EXPECT_THAT(Request({"--resume=" + token, "--epoch=4"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "cursor is for epoch 5"));
  EXPECT_THAT(Request({"--resume=" + token, "--start=3"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "--start and --resume"));
  EXPECT_THAT(Request({"--resume=garbage"}), StatusIs(absl::StatusCode::kInvalidArgument, "--resume: "));
}

TEST(StreamFlagsTest, TimeoutsMustBePositive) {
  EXPECT_TRUE(Request({"--failover_timeout=0"}).ok());
  EXPECT_THAT(Request({"--failover_timeout=-1"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "--failover_timeout"));
  EXPECT_THAT(Request({"--progress_timeout=-1"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "--progress_timeout"));
  StreamFlags stream;
  FlagSet flags("imagefeed test", "test");
  stream.Register(&flags);
  ASSERT_TRUE(flags.Parse({"--failover_timeout=2.5", "--progress_timeout=0.25"}).ok());
  const FanInOptions o = stream.ToFanInOptions();
  EXPECT_EQ(o.failover_timeout.count(), 2500);
  EXPECT_EQ(o.progress_timeout.count(), 250);
}

}  // namespace
}  // namespace imagefeed
