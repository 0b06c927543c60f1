#include "common/flags.h"

#include "common/test_support.h"

namespace imagefeed {
namespace {

struct Parsed {
  std::string server = "127.0.0.1:50051";
  int64_t batch_size = 32;
  bool json = false;
  bool shuffle = true;
  std::string layout = "nchw";
  double scale = 0;
  std::vector<std::string> datasets;
};

FlagSet MakeFlags(Parsed* p) {
  FlagSet f("imagefeed fetch", "Fetches batches.");
  f.AddString("server", &p->server, "server address");
  f.AddInt("batch_size", &p->batch_size, "samples per batch", 1, 4096);
  f.AddBool("json", &p->json, "print JSON");
  f.AddBool("shuffle", &p->shuffle, "shuffle");
  f.AddEnum("layout", &p->layout, "tensor layout", {"nchw", "nhwc"});
  f.AddDouble("scale", &p->scale, "scale");
  f.AddRepeated("dataset", &p->datasets, "NAME=PATH");
  return f;
}

TEST(FlagSetTest, ParsesAllForms) {
  Parsed p;
  FlagSet f = MakeFlags(&p);
  ASSERT_OK(f.Parse({"--server=h:1", "--batch_size", "8", "--json", "--shuffle=false", "--layout=nhwc",
                     "--scale=0.5", "--dataset=a=/x", "--dataset=b=/y"}));
  EXPECT_EQ(p.server, "h:1");
  EXPECT_EQ(p.batch_size, 8);
  EXPECT_TRUE(p.json);
  EXPECT_FALSE(p.shuffle);
  EXPECT_EQ(p.layout, "nhwc");
  EXPECT_DOUBLE_EQ(p.scale, 0.5);
  EXPECT_THAT(p.datasets, ::testing::ElementsAre("a=/x", "b=/y"));
  EXPECT_TRUE(f.IsSet("scale"));
  EXPECT_FALSE(f.help_requested());
}

TEST(FlagSetTest, ErrorsNameTheFlagAndAllowedValues) {
  Parsed p;
  FlagSet f = MakeFlags(&p);
  EXPECT_THAT(f.Parse({"--layout=chw"}),
              StatusIs(absl::StatusCode::kInvalidArgument, "--layout: 'chw' is not one of nchw, nhwc"));
  EXPECT_THAT(f.Parse({"--batch_size=0"}), StatusIs(absl::StatusCode::kInvalidArgument, "--batch_size"));
  EXPECT_THAT(f.Parse({"--batch_size=x"}), StatusIs(absl::StatusCode::kInvalidArgument, "not an integer"));
  EXPECT_THAT(f.Parse({"--nope=1"}), StatusIs(absl::StatusCode::kInvalidArgument, "unknown flag --nope"));
  EXPECT_THAT(f.Parse({"--shuffle=maybe"}), StatusIs(absl::StatusCode::kInvalidArgument, "true, false"));
  EXPECT_THAT(f.Parse({"stray"}), StatusIs(absl::StatusCode::kInvalidArgument, "unexpected argument"));
}

TEST(FlagSetTest, HelpListsFlagsWithDefaults) {
  Parsed p;
  FlagSet f = MakeFlags(&p);
  ASSERT_OK(f.Parse({"--help"}));
  EXPECT_TRUE(f.help_requested());
  EXPECT_THAT(f.Usage(), ::testing::HasSubstr("--batch_size"));
  EXPECT_THAT(f.Usage(), ::testing::HasSubstr("[default: 32]"));
  EXPECT_THAT(f.Usage(), ::testing::HasSubstr("(nchw|nhwc)"));
}

}  // namespace
}  // namespace imagefeed
