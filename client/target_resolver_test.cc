#include "client/target_resolver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

namespace imagefeed {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A stand-in for DNS: a headless Service answering in arbitrary order.
absl::StatusOr<std::vector<std::string>> Stub(const std::string& host) {
  static const auto* table = new std::map<std::string, std::vector<std::string>>{
      {"imagefeed.ml.svc.cluster.local", {"10.0.0.12", "10.0.0.3", "10.0.0.12", "10.0.0.7"}},
      {"dual", {"fd00::2", "10.1.1.1"}},
  };
  auto it = table->find(host);
  if (it == table->end()) return absl::UnavailableError("no such host");
  return it->second;
}

TEST(ResolveTargetsTest, DnsTargetExpandsToSortedDistinctAddresses) {
  auto r = ResolveTargets({"dns:///imagefeed.ml.svc.cluster.local:50051"}, Stub);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(*r, ElementsAre("10.0.0.12:50051", "10.0.0.3:50051", "10.0.0.7:50051"));
}

TEST(ResolveTargetsTest, AllSpellingsOfDnsAndIpv6Brackets) {
  auto r = ResolveTargets({"dns:dual:7", "dns://8.8.8.8/dual:7", "host:1"}, Stub);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(*r, ElementsAre("10.1.1.1:7", "[fd00::2]:7", "host:1"));
}

TEST(ResolveTargetsTest, PlainTargetsPassThroughWithoutDuplicates) {
  auto r = ResolveTargets({"a:1", "b:2", "a:1"}, Stub);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(*r, ElementsAre("a:1", "b:2"));
}

TEST(ResolveTargetsTest, ErrorsNameTheTarget) {
  auto missing = ResolveTargets({"dns:///nowhere:1"}, Stub);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("dns:///nowhere:1"));
  for (const char* bad : {"dns:///noport", "dns:///host:0", "dns:///host:99999", "dns:///:5"}) {
    auto r = ResolveTargets({bad}, Stub);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(bad));
  }
}

TEST(ResolveTargetsTest, SystemResolverReadsNumericAddresses) {
  auto r = ResolveTargets({"dns:///127.0.0.1:5", "dns:///[::1]:6"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(*r, ElementsAre("127.0.0.1:5", "[::1]:6"));
}

TEST(SplitTargetsTest, CommaList) {
  EXPECT_THAT(SplitTargets("a:1,b:2,,c:3"), ElementsAre("a:1", "b:2", "c:3"));
  EXPECT_THAT(SplitTargets("127.0.0.1:50051"), ElementsAre("127.0.0.1:50051"));
}

}  // namespace
}  // namespace imagefeed
