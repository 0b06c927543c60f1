#include "server/decode/jpeg_decoder.h"

#include <turbojpeg.h>

#include <cstddef>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/scratch_buffer.h"
#include "common/status_macros.h"
#include "server/decode/decode_limits.h"
#include "server/decode/exif_orientation.h"

namespace imagefeed {
namespace {

// Per-thread scratch buffers keep the largest size seen, so the steady state
// allocates nothing; beyond this size they are released after use, so that
// one huge image does not pin its memory in every worker thread.
constexpr size_t kMaxRetainedScratchBytes = size_t{64} << 20;

constexpr uint8_t kMarkerPrefix = 0xFF;
constexpr uint8_t kSoi = 0xD8;
constexpr uint8_t kEoi = 0xD9;
constexpr uint8_t kSos = 0xDA;
constexpr uint8_t kApp1 = 0xE1;
constexpr uint8_t kExifId[6] = {'E', 'x', 'i', 'f', 0, 0};

struct TjDeleter {
  void operator()(void* handle) const { tjDestroy(handle); }
};

// A TurboJPEG handle is not safe to share between threads and costs several
// allocations to create, so each thread keeps one.
std::unique_ptr<void, TjDeleter>& ThreadHandleSlot() {
  thread_local std::unique_ptr<void, TjDeleter> handle;
  return handle;
}

absl::StatusOr<tjhandle> ThreadDecompressor() {
  std::unique_ptr<void, TjDeleter>& handle = ThreadHandleSlot();
  if (handle == nullptr) handle.reset(tjInitDecompress());
  if (handle == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("JPEG decoder: tjInitDecompress failed: ", tjGetErrorStr2(nullptr)));
  }
  return handle.get();
}

// TurboJPEG 2.1.5 leaves the decompressor mid-header when
// tjDecompressHeader3 fails (it skips jpeg_abort_decompress), and the next
// header read on that handle then "succeeds" with 0x0. After any failure
// the handle is therefore replaced; failures are rare, so this costs nothing.
void DiscardThreadDecompressor() { ThreadHandleSlot().reset(); }

// What we read from the marker segments before the first scan.
struct JpegMarkers {
  bool has_sof = false;
  int precision = 0;
  int width = 0;
  int height = 0;
  int components = 0;
  bool progressive = false;
  int first_scan_components = 0;  // 0: no SOS seen
  absl::Span<const uint8_t> exif;  // payload of the first APP1 "Exif\0\0"
};

bool IsStartOfFrame(uint8_t marker) {
  // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

// Walks the header segments (bounds-checked). Stops quietly at anything odd:
// libjpeg then reports the actual error.
JpegMarkers ScanMarkers(absl::Span<const uint8_t> bytes) {
  JpegMarkers found;
  size_t pos = 2;  // after SOI
  while (pos + 4 <= bytes.size() && bytes[pos] == kMarkerPrefix) {
    const uint8_t marker = bytes[pos + 1];
    if (marker == kMarkerPrefix) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == kSos) {
      if (pos + 4 < bytes.size()) found.first_scan_components = bytes[pos + 4];
      break;
    }
    if (marker == kEoi) break;
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // no length field
      pos += 2;
      continue;
    }
    const size_t length = size_t{bytes[pos + 2]} << 8 | bytes[pos + 3];
    if (length < 2 || length > bytes.size() - pos - 2) break;
    absl::Span<const uint8_t> payload = bytes.subspan(pos + 4, length - 2);
    if (IsStartOfFrame(marker) && !found.has_sof && payload.size() >= 5) {
      found.has_sof = true;
      found.precision = payload[0];
      found.height = payload[1] << 8 | payload[2];
      found.width = payload[3] << 8 | payload[4];
      found.components = payload.size() >= 6 ? payload[5] : 0;
      found.progressive = (marker & 0x03) == 0x02;  // SOF2, SOF6, SOF10, SOF14
    } else if (marker == kApp1 && found.exif.empty() && payload.size() >= sizeof(kExifId) &&
               std::memcmp(payload.data(), kExifId, sizeof(kExifId)) == 0) {
      found.exif = payload;
    }
    pos += 2 + length;
  }
  return found;
}

struct JpegInfo {
  int width = 0;
  int height = 0;
  int colorspace = -1;  // TJCS_*
  int orientation = 1;
  // For the memory bound; the worst case unless the markers say otherwise.
  int components = 4;
  bool whole_image_coefficients = true;
};

absl::StatusOr<JpegInfo> ReadJpegInfo(tjhandle tj, absl::Span<const uint8_t> bytes,
                                      const DecodeOptions& options) {
  if (bytes.size() < 3 || bytes[0] != kMarkerPrefix || bytes[1] != kSoi) {
    return absl::InvalidArgumentError("not a JPEG file (no SOI marker)");
  }
  const JpegMarkers markers = ScanMarkers(bytes);
  if (markers.has_sof) {
    if (markers.precision != 8) {
      return absl::InvalidArgumentError(absl::StrCat("JPEG has unsupported precision: ",
                                                     markers.precision,
                                                     "-bit samples (only 8-bit JPEGs are supported)"));
    }
    // Before libjpeg sees the file: a forged SOF must not get any further.
    RETURN_IF_ERROR(CheckDimensions("JPEG", markers.width, markers.height, options.max_pixels));
  }
  JpegInfo info;
  int subsampling = -1;
  const int rc = tjDecompressHeader3(tj, bytes.data(), bytes.size(), &info.width, &info.height,
                                     &subsampling, &info.colorspace);
  // TurboJPEG refuses sampling layouts it has no TJSAMP_* name for (after
  // filling in the rest), although libjpeg decodes them; only that is let by.
  const bool unnamed_sampling = rc != 0 && tjGetErrorCode(tj) == TJERR_FATAL && subsampling < 0 &&
                                info.colorspace >= 0 && info.width > 0 && info.height > 0;
  if (rc != 0 && !unnamed_sampling) {
    absl::Status error =
        absl::InvalidArgumentError(absl::StrCat("JPEG header unreadable: ", tjGetErrorStr2(tj)));
    DiscardThreadDecompressor();  // `tj` is gone now
    return error;
  }
  RETURN_IF_ERROR(CheckDimensions("JPEG", info.width, info.height, options.max_pixels));
  if (markers.has_sof && markers.components > 0 && markers.first_scan_components > 0) {
    info.components = markers.components;
    // libjpeg's own rule (jdinput.c): several scans buffer the whole image.
    info.whole_image_coefficients = markers.progressive || markers.first_scan_components < markers.components;
  }
  if (options.apply_exif_orientation && !markers.exif.empty()) {
    info.orientation = ParseExifOrientation(markers.exif);
  }
  return info;
}

absl::Status Decompress(tjhandle tj, absl::Span<const uint8_t> bytes, const JpegInfo& info,
                        int pixel_format, uint8_t* dst) {
  // STOPONWARNING: truncated or corrupt data fails instead of being padded.
  // LIMITSCANS: a progressive file with thousands of scans cannot stall us.
  // Never FASTDCT/FASTUPSAMPLE: pixels must match the reference decoders.
  constexpr int kFlags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;
  if (tjDecompress2(tj, bytes.data(), bytes.size(), dst, info.width, /*pitch=*/0, info.height,
                    pixel_format, kFlags) != 0) {
    const bool warning = tjGetErrorCode(tj) == TJERR_WARNING;
    absl::Status error = absl::InvalidArgumentError(absl::StrCat(
        warning ? "JPEG data corrupt or truncated: " : "JPEG decode failed: ", tjGetErrorStr2(tj)));
    DiscardThreadDecompressor();  // `tj` is gone now
    return error;
  }
  return absl::OkStatus();
}

// The calling thread's conversion buffers, kept between images.
struct JpegScratch {
  Image upright;  // decoded as stored, before the EXIF orientation
  std::vector<uint8_t> cmyk;
};

JpegScratch& ThreadScratch() {
  thread_local JpegScratch scratch;
  return scratch;
}

int OutputChannels(const JpegInfo& info) { return info.colorspace == TJCS_GRAY ? 1 : 3; }
bool IsCmyk(const JpegInfo& info) { return info.colorspace == TJCS_CMYK || info.colorspace == TJCS_YCCK; }

// libjpeg-turbo's allocations besides coefficient buffers (tables, pools,
// the source manager) are a few tens of KiB; this leaves a wide margin.
constexpr size_t kLibjpegFixedBytes = size_t{256} << 10;

// Upper bound of the heap bytes DecodeJpeg uses besides `out`. Per
// component, libjpeg keeps at most ~44 rows of samples (main buffer with
// context rows, upsampler; 128 counted), plus, for a file with several
// scans, the whole image's coefficients: 2 bytes each, padded to whole
// MCUs (at most 32 pixels). TurboJPEG adds one row pointer per row.
size_t DecoderScratchBytes(const JpegInfo& info) {
  const size_t w = static_cast<size_t>(info.width), h = static_cast<size_t>(info.height);
  size_t per_component = (w + 64) * 128;
  if (info.whole_image_coefficients) per_component += 2 * (w + 64) * (h + 64);
  size_t bytes = info.components * per_component + h * sizeof(void*) + kLibjpegFixedBytes;
  if (IsCmyk(info)) bytes += w * h * 4;
  if (info.orientation != 1) bytes += w * h * OutputChannels(info);
  return bytes;
}

}  // namespace

absl::StatusOr<ImageHeader> PeekJpeg(absl::Span<const uint8_t> bytes,
                                     const DecodeOptions& options) {
  ASSIGN_OR_RETURN(tjhandle tj, ThreadDecompressor());
  ASSIGN_OR_RETURN(JpegInfo info, ReadJpegInfo(tj, bytes, options));
  ImageHeader header;
  header.format = ImageFormat::kJpeg;
  header.width = info.width;
  header.height = info.height;
  header.channels = OutputChannels(info);
  header.orientation = info.orientation;
  header.decoder_scratch_bytes = DecoderScratchBytes(info);
  return header;
}

absl::Status DecodeJpeg(absl::Span<const uint8_t> bytes, const DecodeOptions& options,
                        Image* out) {
  ASSIGN_OR_RETURN(tjhandle tj, ThreadDecompressor());
  ASSIGN_OR_RETURN(JpegInfo info, ReadJpegInfo(tj, bytes, options));
  const int channels = OutputChannels(info);

  // Decode straight into `out` unless a conversion has to follow.
  JpegScratch& scratch = ThreadScratch();
  Image* target = info.orientation == 1 ? out : &scratch.upright;
  target->Reset(info.width, info.height, channels, 8);
  absl::Status status;
  if (IsCmyk(info)) {
    const size_t pixels = size_t{static_cast<unsigned>(info.width)} * info.height;
    ResizeForOverwrite(&scratch.cmyk, pixels * 4);
    status = Decompress(tj, bytes, info, TJPF_CMYK, scratch.cmyk.data());
    if (status.ok()) CmykToRgb(scratch.cmyk.data(), pixels, target->data.data());
    ReleaseIfLarger(&scratch.cmyk, kMaxRetainedScratchBytes);
  } else {
    status = Decompress(tj, bytes, info, channels == 1 ? TJPF_GRAY : TJPF_RGB, target->data.data());
  }
  if (target != out) {
    if (status.ok()) ApplyOrientation(scratch.upright, info.orientation, out);
    ReleaseIfLarger(&scratch.upright.data, kMaxRetainedScratchBytes);
  }
  return status;
}

void CmykToRgb(const uint8_t* cmyk, size_t pixels, uint8_t* rgb) {
  for (size_t i = 0; i < pixels; ++i, cmyk += 4, rgb += 3) {
    const unsigned k = cmyk[3];
    for (int c = 0; c < 3; ++c) {
      const unsigned t = cmyk[c] * k + 128;  // exact round(x/255) for x <= 255*255
      rgb[c] = static_cast<uint8_t>((t + (t >> 8)) >> 8);
    }
  }
}

size_t ThreadJpegScratchBytes() {
  const JpegScratch& scratch = ThreadScratch();
  return CapacityBytes(scratch.upright.data) + CapacityBytes(scratch.cmyk);
}

void ReleaseJpegScratch() {
  JpegScratch& scratch = ThreadScratch();
  ReleaseIfLarger(&scratch.upright.data, 0);
  ReleaseIfLarger(&scratch.cmyk, 0);
}

}  // namespace imagefeed
