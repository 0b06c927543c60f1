#include "common/bitmap_font.h"

#include <bitset>
#include <map>
#include <string>

#include "common/test_support.h"

namespace imagefeed {
namespace {

constexpr uint8_t kWhite[3] = {255, 255, 255};

Image Blank(int w, int h) {
  Image image;
  image.Reset(w, h, 3, 8);
  return image;
}

// The image as rows of '#' (any non-zero pixel) and '.'.
std::string Art(const Image& image) {
  std::string out;
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) out += image.row(y)[x * 3] ? '#' : '.';
    out += '\n';
  }
  return out;
}

TEST(BitmapFontTest, LabelCharactersHaveDistinctFiveColumnGlyphs) {
  const std::string chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,:/()+#";
  std::map<std::array<uint8_t, kGlyphCellHeight>, char> seen;
  for (char c : chars) {
    const auto& rows = Glyph(c);
    int pixels = 0;
    for (uint8_t row : rows) {
      EXPECT_EQ(row & ~0x1F, 0) << c;
      pixels += static_cast<int>(std::bitset<8>(row).count());
    }
    EXPECT_GT(pixels, 0) << c;
    EXPECT_NE(rows, Glyph('?')) << c;
    auto [it, inserted] = seen.emplace(rows, c);
    EXPECT_TRUE(inserted) << c << " looks like " << it->second;
  }
}

TEST(BitmapFontTest, UnknownCharactersDrawAsQuestionMarks) {
  EXPECT_EQ(Glyph('~'), Glyph('?'));
  EXPECT_EQ(Glyph(static_cast<char>(0xC3)), Glyph('?'));
  EXPECT_EQ(Glyph('\n'), Glyph('?'));
  EXPECT_EQ(Glyph(' '), (std::array<uint8_t, kGlyphCellHeight>{}));
}

TEST(BitmapFontTest, TextWidthHasOneBlankColumnBetweenCharacters) {
  EXPECT_EQ(TextWidth("", 1), 0);
  EXPECT_EQ(TextWidth("a", 1), 5);
  EXPECT_EQ(TextWidth("ab", 1), 11);
  EXPECT_EQ(TextWidth("ab", 3), 33);
}

TEST(BitmapFontTest, DrawsTheGlyphBitmap) {
  Image image = Blank(11, 7);
  DrawText(&image, 0, 0, "t1", 1, kWhite);
  EXPECT_EQ(Art(image),
            ".#......#..\n"
            ".#.....##..\n"
            "###.....#..\n"
            ".#......#..\n"
            ".#......#..\n"
            ".#..#...#..\n"
            "..##...###.\n");
}

TEST(BitmapFontTest, DescendersGoBelowTheBaseline) {
  Image image = Blank(11, 9);
  DrawText(&image, 0, 0, "qa", 1, kWhite);
  EXPECT_EQ(Art(image),
            "...........\n"
            "...........\n"
            ".####..###.\n"
            "#...#.....#\n"
            "#...#..####\n"
            "#...#.#...#\n"
            ".####..####\n"
            "....#......\n"
            "....#......\n");
}

TEST(BitmapFontTest, ScalesPixelsToSquaresAndClipsAtTheEdges) {
  Image image = Blank(6, 4);
  DrawText(&image, -1, -8, "-", 2, kWhite);  // the bar (row 3) lands on rows -2..-1: nothing drawn
  EXPECT_EQ(Art(image), "......\n......\n......\n......\n");
  DrawText(&image, -2, -6, "-", 2, kWhite);  // bar on rows 0..1, columns -2..7 clipped to 0..5
  EXPECT_EQ(Art(image), "######\n######\n......\n......\n");
  Image gray;
  gray.Reset(3, 1, 1, 8);
  const uint8_t mid[3] = {128, 0, 0};
  DrawText(&gray, -1, -6, "_", 1, mid);
  EXPECT_EQ(gray.data, (std::vector<uint8_t>{128, 128, 128}));
}

}  // namespace
}  // namespace imagefeed
