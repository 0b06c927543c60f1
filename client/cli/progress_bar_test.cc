#include "client/cli/progress_bar.h"

#include <cstdio>

#include "common/test_support.h"

namespace imagefeed {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(ProgressBarTest, RendersRatesPercentageAndEta) {
  ProgressSnapshot s;
  s.done = 100;
  s.total = 300;
  s.bytes = 50'000'000;
  s.seconds = 2;
  const std::string line = RenderProgress(s, 120);
  EXPECT_THAT(line, StartsWith("[######..............]  33%  100/300 samples"));
  EXPECT_THAT(line, HasSubstr("100/300 samples"));
  EXPECT_THAT(line, HasSubstr("50.0 samples/s"));
  EXPECT_THAT(line, HasSubstr("25.0 MB/s"));
  EXPECT_THAT(line, HasSubstr("ETA 0:04"));
  EXPECT_LE(line.size(), 120u);
}

TEST(ProgressBarTest, WithoutATotalThereIsNoBarOrEta) {
  ProgressSnapshot s;
  s.done = 10;
  s.bytes = 1'000'000;
  s.seconds = 1;
  EXPECT_EQ(RenderProgress(s, 80), "10 samples  10.0 samples/s  1.0 MB/s");
}

TEST(ProgressBarTest, NarrowTerminalsDropTheBarThenTruncate) {
  ProgressSnapshot s;
  s.done = 1;
  s.total = 2;
  s.seconds = 1;
  const std::string wide = RenderProgress(s, 200);
  EXPECT_THAT(wide, StartsWith("["));
  EXPECT_EQ(RenderProgress(s, 1000).find(']'), 21u);  // the bar has a fixed width
  const std::string narrow = RenderProgress(s, 50);
  EXPECT_THAT(narrow, StartsWith(" 50%  1/2 samples"));
  EXPECT_LE(narrow.size(), 50u);
  EXPECT_EQ(RenderProgress(s, 10).size(), 10u);
}

TEST(ProgressBarTest, ZeroElapsedTimeHasNoRateAndUnknownEta) {
  ProgressSnapshot s;
  s.total = 5;
  EXPECT_THAT(RenderProgress(s, 100), HasSubstr("0.0 samples/s  0.0 MB/s  ETA ?"));
}

TEST(ProgressBarTest, FormatsDurations) {
  EXPECT_EQ(FormatDuration(0), "0:00");
  EXPECT_EQ(FormatDuration(65.4), "1:05");
  EXPECT_EQ(FormatDuration(3600 + 61), "1:01:01");
  EXPECT_EQ(FormatDuration(-1), "?");
}

TEST(ProgressBarTest, DisabledBarWritesNothing) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    ProgressBar bar(f, /*enabled=*/false, 10);
    bar.Update(5, 100);
    bar.Clear();
    bar.Finish();
  }
  EXPECT_EQ(std::ftell(f), 0);
  std::fclose(f);
}

TEST(ProgressBarTest, EnabledBarDrawsInPlaceAndErasesItself) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    ProgressBar bar(f, /*enabled=*/true, 10);
    bar.Update(5, 100);
  }
  std::rewind(f);
  char buf[512] = {};
  const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  const std::string out(buf, n);
  EXPECT_THAT(out, StartsWith("\r"));
  EXPECT_THAT(out, HasSubstr("5/10 samples"));
  EXPECT_EQ(out.find('\n'), std::string::npos);
  EXPECT_THAT(out, ::testing::EndsWith("\r\x1b[K"));
}

}  // namespace
}  // namespace imagefeed
