#include "common/json_writer.h"

#include "gtest/gtest.h"

namespace imagefeed {
namespace {

TEST(JsonWriterTest, NestedValues) {
  JsonWriter j;
  j.BeginObject();
  j.Key("name");
  j.String("a\"b\\c\n");
  j.IntArray("ids", {1, -2, 3});
  j.DoubleArray("mean", {0.5, 1.0 / 0.0});
  j.Key("inner");
  j.BeginArray();
  j.BeginObject();
  j.Key("ok");
  j.Bool(true);
  j.EndObject();
  j.Null();
  j.EndArray();
  j.EndObject();
  EXPECT_EQ(j.str(),
            R"({"name":"a\"b\\c\n","ids":[1,-2,3],"mean":[0.5,null],"inner":[{"ok":true},null]})");
}

TEST(JsonWriterTest, ControlCharactersAreEscaped) { EXPECT_EQ(JsonQuote("\x01"), "\"\\u0001\""); }

}  // namespace
}  // namespace imagefeed
