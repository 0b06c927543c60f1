// Decodes the shared conformance corpora (PngSuite, libjpeg-turbo test
// images + derived cases) and checks every MANIFEST.tsv row: `ok` rows decode
// to the listed size, channels and depth with the listed SHA-256 of the 8-bit
// RGB pixels; `error` rows fail. See shared/corpora/README.md for the rules.

#include <openssl/evp.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "common/test_support.h"
#include "gtest/gtest.h"
#include "server/decode/image_decoder.h"

namespace imagefeed {
namespace {

struct ManifestRow {
  std::string file;
  bool expect_ok = false;
  int width = 0;
  int height = 0;
  int stored_channels = 0;  // 2 and 4 include alpha (or CMYK's K)
  int bit_depth = 0;
  std::string sha256;
};

// Parses MANIFEST.tsv; fails the test on a malformed row.
std::vector<ManifestRow> ReadManifest(const std::string& path) {
  std::vector<ManifestRow> rows;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> f = absl::StrSplit(line, '\t');
    if (f.size() < 7) {
      ADD_FAILURE() << "malformed manifest row in " << path << ": " << line;
      continue;
    }
    ManifestRow row;
    row.file = f[0];
    row.expect_ok = f[1] == "ok";
    if (row.expect_ok) {
      bool parsed = absl::SimpleAtoi(f[2], &row.width) && absl::SimpleAtoi(f[3], &row.height) &&
                    absl::SimpleAtoi(f[4], &row.stored_channels) &&
                    absl::SimpleAtoi(f[5], &row.bit_depth);
      if (!parsed) ADD_FAILURE() << "malformed numbers in manifest row: " << line;
      row.sha256 = f[6];
    } else if (f[1] != "error") {
      ADD_FAILURE() << "unknown expectation '" << f[1] << "' in manifest row: " << line;
    }
    rows.push_back(row);
  }
  return rows;
}

// The manifest's rgb8 form: gray replicated to R=G=B, 16-bit samples >> 8.
std::vector<uint8_t> ToRgb8(const Image& image) {
  std::vector<uint8_t> rgb;
  rgb.reserve(size_t{3} * image.width * image.height);
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      for (int c = 0; c < 3; ++c) {
        const size_t index = size_t{static_cast<unsigned>(x)} * image.channels +
                             (image.channels == 1 ? 0 : c);
        rgb.push_back(image.bit_depth == 16 ? static_cast<uint8_t>(image.row16(y)[index] >> 8)
                                            : image.row(y)[index]);
      }
    }
  }
  return rgb;
}

std::string Sha256Hex(const std::vector<uint8_t>& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xF];
  }
  return hex;
}

class DecodeConformanceTest : public ::testing::TestWithParam<const char*> {};

TEST_P(DecodeConformanceTest, EveryManifestRowBehavesAsListed) {
  const std::string shared = SharedDir();
  if (shared.empty()) {
    GTEST_SKIP() << "conformance corpora not found: set IMAGEFEED_SHARED_DIR to the directory "
                    "holding corpora/ (ctest sets it to <repo>/../shared)";
  }
  const std::string dir = shared + "/corpora/" + GetParam();
  if (!std::ifstream(dir + "/MANIFEST.tsv").good()) {
    GTEST_SKIP() << "no " << dir << "/MANIFEST.tsv";
  }
  const std::vector<ManifestRow> rows = ReadManifest(dir + "/MANIFEST.tsv");
  ASSERT_FALSE(rows.empty()) << "empty manifest in " << dir;

  const DecodeOptions options;
  std::vector<uint8_t> bytes;
  Image image;  // reused across rows, as the server does
  int as_listed = 0;
  for (const ManifestRow& row : rows) {
    SCOPED_TRACE(row.file);
    ASSERT_OK(ReadFileToBuffer(dir + "/" + row.file, &bytes));
    const absl::Status status = DecodeImage(bytes, options, &image);
    if (!row.expect_ok) {
      EXPECT_FALSE(status.ok()) << "decoded a file listed as error";
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
      as_listed += !status.ok();
      continue;
    }
    if (!status.ok()) {
      ADD_FAILURE() << "failed to decode a file listed as ok: " << status;
      continue;
    }
    const int expected_channels = row.stored_channels <= 2 ? 1 : 3;
    EXPECT_EQ(image.width, row.width);
    EXPECT_EQ(image.height, row.height);
    EXPECT_EQ(image.channels, expected_channels);
    EXPECT_EQ(image.bit_depth, row.bit_depth);
    if (image.width != row.width || image.height != row.height) continue;
    const std::string sha = Sha256Hex(ToRgb8(image));
    EXPECT_EQ(sha, row.sha256) << "pixels differ from the reference decoders";
    as_listed += sha == row.sha256 && image.channels == expected_channels &&
                 image.bit_depth == row.bit_depth;
  }
  EXPECT_EQ(as_listed, static_cast<int>(rows.size())) << "rows behaving as listed in " << dir;
}

INSTANTIATE_TEST_SUITE_P(Corpora, DecodeConformanceTest, ::testing::Values("pngsuite", "jpeg"));

}  // namespace
}  // namespace imagefeed
