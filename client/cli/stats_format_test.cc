#include "client/cli/stats_format.h"

#include "common/test_support.h"

namespace imagefeed {
namespace {

using ::testing::HasSubstr;

v1::DatasetStats Stats() {
  v1::DatasetStats s;
  s.set_dataset("demo");
  s.set_state(v1::DatasetStats::STATE_READY);
  s.set_samples_fitted(300);
  s.set_samples_total(300);
  s.set_count(1228800);
  for (double v : {0.5, 0.25, 0.125}) s.add_mean(v);
  for (double v : {0.5, 0.2, 0.1}) s.add_std(v);
  for (double v : {0.0, 0.0, 0.0}) s.add_min(v);
  for (double v : {1.0, 1.0, 0.75}) s.add_max(v);
  s.set_color_mode("rgb");
  return s;
}

TEST(StatsFormatTest, ActionFollowsTheStateAndWait) {
  v1::DatasetStats s;
  s.set_state(v1::DatasetStats::STATE_READY);
  EXPECT_EQ(NextStatsAction(s, true), StatsAction::kPrint);
  EXPECT_EQ(NextStatsAction(s, false), StatsAction::kPrint);
  s.set_state(v1::DatasetStats::STATE_FITTING);
  EXPECT_EQ(NextStatsAction(s, true), StatsAction::kPoll);
  EXPECT_EQ(NextStatsAction(s, false), StatsAction::kPrintProgress);
  s.set_state(v1::DatasetStats::STATE_FAILED);
  EXPECT_EQ(NextStatsAction(s, true), StatsAction::kFail);
  s.set_state(v1::DatasetStats::STATE_UNSPECIFIED);
  EXPECT_EQ(NextStatsAction(s, false), StatsAction::kFail);
}

TEST(StatsFormatTest, JsonHasExactlyTheDocumentedKeys) {
  EXPECT_EQ(StatsJson(Stats()),
            R"({"count":1228800,"mean":[0.5,0.25,0.125],"std":[0.5,0.2,0.1],"min":[0,0,0],"max":[1,1,0.75]})");
}

TEST(StatsFormatTest, KerasTakesVarianceTorchvisionStd) {
  EXPECT_EQ(KerasNormalization(Stats()),
            "keras.layers.Normalization(mean=[0.5, 0.25, 0.125], variance=[0.25, 0.04, 0.01])");
  EXPECT_EQ(TorchvisionNormalize(Stats()), "transforms.Normalize(mean=[0.5, 0.25, 0.125], std=[0.5, 0.2, 0.1])");
}

TEST(StatsFormatTest, KeepsFloatPrecision) {
  v1::DatasetStats s;
  s.add_mean(0.48501961);
  s.add_std(0.22899999);
  EXPECT_EQ(TorchvisionNormalize(s), "transforms.Normalize(mean=[0.48501961], std=[0.22899999])");
}

TEST(StatsFormatTest, TableListsEveryChannel) {
  const std::string table = StatsTable(Stats());
  EXPECT_THAT(table, HasSubstr("demo: 300 images, 1228800 pixels per channel, rgb"));
  EXPECT_THAT(table, HasSubstr("channel"));
  EXPECT_THAT(table, HasSubstr("2          0.125000   0.100000   0.000000   0.750000"));
}

TEST(StatsFormatTest, Progress) {
  v1::DatasetStats s;
  s.set_dataset("demo");
  s.set_state(v1::DatasetStats::STATE_FITTING);
  s.set_samples_fitted(120);
  s.set_samples_total(300);
  EXPECT_EQ(StatsProgress(s), "fitting statistics of demo: 120/300 images (40%)");
  EXPECT_EQ(StatsProgressJson(s), R"({"state":"fitting","samples_fitted":120,"samples_total":300})");
}

}  // namespace
}  // namespace imagefeed
