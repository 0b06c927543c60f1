#include "common/image_encoders.h"

#include <png.h>
#include <turbojpeg.h>

#include <csetjmp>
#include <memory>

#include "absl/strings/str_cat.h"

namespace imagefeed {
namespace {

struct TjDeleter {
  void operator()(void* handle) const { tjDestroy(handle); }
};

void AppendToString(png_structp png, png_bytep data, png_size_t length) {
  auto* out = static_cast<std::string*>(png_get_io_ptr(png));
  out->append(reinterpret_cast<const char*>(data), length);
}

void FlushNothing(png_structp) {}

}  // namespace

absl::StatusOr<std::string> EncodeJpeg(const Image& image, int quality, ChromaSubsampling subsampling,
                                       bool progressive) {
  if (image.bit_depth != 8 || (image.channels != 1 && image.channels != 3)) {
    return absl::InvalidArgumentError("EncodeJpeg needs an 8-bit gray or RGB image");
  }
  std::unique_ptr<void, TjDeleter> tj(tjInitCompress());
  if (!tj) return absl::InternalError("tjInitCompress failed");
  int samp = image.channels == 1                            ? TJSAMP_GRAY
             : subsampling == ChromaSubsampling::k444 ? TJSAMP_444
             : subsampling == ChromaSubsampling::k422 ? TJSAMP_422
                                                      : TJSAMP_420;
  int flags = TJFLAG_ACCURATEDCT | (progressive ? TJFLAG_PROGRESSIVE : 0);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  int rc = tjCompress2(tj.get(), image.data.data(), image.width, 0, image.height,
                       image.channels == 1 ? TJPF_GRAY : TJPF_RGB, &buf, &size, samp, quality, flags);
  if (rc != 0) {
    std::string err = tjGetErrorStr2(tj.get());
    tjFree(buf);
    return absl::InternalError(absl::StrCat("JPEG encode failed: ", err));
  }
  std::string out(reinterpret_cast<const char*>(buf), size);
  tjFree(buf);
  return out;
}

absl::StatusOr<std::string> EncodePng(const Image& image, bool interlace, PngFilter filter) {
  static constexpr int kColorTypes[] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                        PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
  if (image.channels < 1 || image.channels > 4 || (image.bit_depth != 8 && image.bit_depth != 16)) {
    return absl::InvalidArgumentError("EncodePng needs 1-4 channels of 8 or 16 bits");
  }
  std::string out;
  std::vector<png_bytep> rows(image.height);  // before setjmp: nothing non-trivial is created after it
  for (int y = 0; y < image.height; ++y) rows[y] = const_cast<png_bytep>(image.row(y));
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (png == nullptr) return absl::InternalError("png_create_write_struct failed");
  png_infop info = png_create_info_struct(png);
  if (info == nullptr || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return absl::InternalError("PNG encode failed");
  }
  png_set_write_fn(png, &out, AppendToString, FlushNothing);
  png_set_IHDR(png, info, image.width, image.height, image.bit_depth, kColorTypes[image.channels],
               interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (filter != PngFilter::kAdaptive) {
    static constexpr int kFilters[] = {0, PNG_FILTER_NONE, PNG_FILTER_SUB, PNG_FILTER_UP, PNG_FILTER_AVG, PNG_FILTER_PAETH};
    png_set_filter(png, PNG_FILTER_TYPE_BASE, kFilters[static_cast<int>(filter)]);
  }
  png_write_info(png, info);
  if (image.bit_depth == 16) png_set_swap(png);  // our samples are native (little) endian
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

}  // namespace imagefeed
