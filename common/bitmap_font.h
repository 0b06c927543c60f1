#ifndef IMAGEFEED_COMMON_BITMAP_FONT_H_
#define IMAGEFEED_COMMON_BITMAP_FONT_H_

#include <array>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "common/image.h"

namespace imagefeed {

// A tiny built-in 5x7 bitmap font (the HD44780 LCD shapes, with real
// descenders for g, j, p, q, y) for labelling contact sheets without a font
// library: a-z, A-Z, 0-9 and " _-.,:/()+#?". Any other character is drawn
// as '?'.
constexpr int kGlyphWidth = 5;
// Rows from the top of a capital to the baseline.
constexpr int kGlyphHeight = 7;
// Rows below the baseline (descenders).
constexpr int kGlyphDescent = 2;
constexpr int kGlyphCellHeight = kGlyphHeight + kGlyphDescent;
// Horizontal distance between characters (one blank column).
constexpr int kGlyphAdvance = kGlyphWidth + 1;

// The 9 rows of `c`'s glyph, top first, baseline below row 6; bit 4 is the
// leftmost column.
const std::array<uint8_t, kGlyphCellHeight>& Glyph(char c);

// Width in pixels of `text` drawn at `scale` (no trailing blank column).
int TextWidth(absl::string_view text, int scale);

// Draws `text` with its top-left corner at (x, y), each font pixel a
// `scale` x `scale` square of `color` (as many components as the image has
// channels, at most 3; 8-bit images only). Pixels outside the image are
// clipped.
void DrawText(Image* image, int x, int y, absl::string_view text, int scale, const uint8_t color[3]);

}  // namespace imagefeed

#endif  // IMAGEFEED_COMMON_BITMAP_FONT_H_
