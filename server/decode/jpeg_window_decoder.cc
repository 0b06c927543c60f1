#include "server/decode/jpeg_window_decoder.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>  // before jpeglib.h, which needs FILE
#include <jpeglib.h>
#include <jerror.h>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/scratch_buffer.h"
#include "server/decode/jpeg_decoder.h"

namespace imagefeed {
namespace {

// As in DecodeJpeg: beyond this a thread's scratch is released after use.
constexpr size_t kMaxRetainedScratchBytes = size_t{64} << 20;
// TurboJPEG's TJFLAG_LIMITSCANS bound, so both paths refuse the same files.
constexpr int kMaxScans = 500;
// libjpeg's largest iMCU is 4 blocks of 8 pixels wide and high.
constexpr int kMaxImcu = 32;
// Fancy upsampling treats the edges of a cropped row as the image's edges
// (libjpeg.txt, "Partial image decompression"), so the decoded window is
// one pixel wider on the left than asked for (and so one iMCU wider when
// the window starts on an iMCU boundary) and this much wider on the right:
// the pixels that differ from a full decode then lie outside the window.
// Without the margins edge pixels of noise were up to 37 levels off (4:2:2,
// 4:2:0); a right margin of 1 still left 4:2:0 windows off. Rows need no
// margin: jpeg_skip_scanlines keeps the upsampler's context rows.
constexpr int kLeftMargin = 1;
constexpr int kRightMargin = 2;

// libjpeg reports errors by longjmp to `jump`. Warnings (corrupt or
// truncated data) are errors too, as with TJFLAG_STOPONWARNING.
struct ErrorManager {
  jpeg_error_mgr pub;  // first: libjpeg casts cinfo->err to it
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool warning = false;  // the error was a warning (corrupt or truncated data)
};

[[noreturn]] void ErrorExit(j_common_ptr cinfo) {
  ErrorManager* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void EmitMessage(j_common_ptr cinfo, int msg_level) {
  if (msg_level < 0) {  // a warning; trace messages (>= 0) are dropped
    reinterpret_cast<ErrorManager*>(cinfo->err)->warning = true;
    ErrorExit(cinfo);
  }
}

void ProgressMonitor(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  if (reinterpret_cast<j_decompress_ptr>(cinfo)->input_scan_number > kMaxScans) {
    ErrorManager* err = reinterpret_cast<ErrorManager*>(cinfo->err);
    std::snprintf(err->message, sizeof(err->message), "progressive JPEG has more than %d scans", kMaxScans);
    std::longjmp(err->jump, 1);
  }
}

// Everything one window decode hands to and gets from libjpeg. Trivially
// destructible, so a longjmp out of a step skips no destructor.
struct WindowJob {
  absl::Span<const uint8_t> bytes;
  int scale_denom = 1;
  PixelRect want;  // at the output scale
  // Filled in by StartStep: the decoded window at the output scale.
  int x0 = 0, y0 = 0, width = 0, height = 0;
  // For ReadStep: where row r of the decoded window goes.
  uint8_t* dst = nullptr;
  size_t dst_stride = 0;
};

// A thread's libjpeg decompressor, created once (jpeg_create_decompress
// allocates its memory pools) and reset with jpeg_abort_decompress.
struct Decompressor {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  jpeg_progress_mgr progress;
  bool created = false;

  ~Decompressor() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

Decompressor& ThreadDecompressor() {
  thread_local Decompressor d;
  return d;
}

struct WindowScratch {
  std::vector<uint8_t> cmyk;
};

WindowScratch& ThreadScratch() {
  thread_local WindowScratch scratch;
  return scratch;
}

// The steps below run under Guarded's setjmp and call nothing but libjpeg
// and arithmetic.

void CreateStep(Decompressor* d, WindowJob*) { jpeg_create_decompress(&d->cinfo); }

int MapDown(int v, int denom) { return (2 * v + denom) / (2 * denom); }  // round(v / denom), v >= 0

// Reads the header, sets up scaling and the output colour space, and crops
// the rows to whole iMCUs around the window plus the edge margins.
void StartStep(Decompressor* d, WindowJob* job) {
  jpeg_decompress_struct* cinfo = &d->cinfo;
  jpeg_mem_src(cinfo, job->bytes.data(), job->bytes.size());
  jpeg_read_header(cinfo, TRUE);
  cinfo->scale_num = 1;
  cinfo->scale_denom = job->scale_denom;
  switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo->out_color_space = JCS_GRAYSCALE; break;
    case JCS_CMYK:
    case JCS_YCCK: cinfo->out_color_space = JCS_CMYK; break;
    default: cinfo->out_color_space = JCS_RGB; break;
  }
  jpeg_calc_output_dimensions(cinfo);
  const int out_w = static_cast<int>(cinfo->output_width), out_h = static_cast<int>(cinfo->output_height);
  // The window at the output scale, at least one pixel, inside the image.
  PixelRect& w = job->want;
  const int denom = job->scale_denom;
  const int x1 = std::clamp(MapDown(w.x + w.width, denom), 1, out_w);
  const int y1 = std::clamp(MapDown(w.y + w.height, denom), 1, out_h);
  w.x = std::min(MapDown(w.x, denom), x1 - 1);
  w.y = std::min(MapDown(w.y, denom), y1 - 1);
  w.width = x1 - w.x;
  w.height = y1 - w.y;
  JDIMENSION x0 = static_cast<JDIMENSION>(std::max(w.x - kLeftMargin, 0));
  JDIMENSION width = static_cast<JDIMENSION>(std::min(x1 + kRightMargin, out_w)) - x0;
  jpeg_start_decompress(cinfo);
  jpeg_crop_scanline(cinfo, &x0, &width);
  job->x0 = static_cast<int>(x0);
  job->width = static_cast<int>(width);
  job->y0 = w.y;
  job->height = w.height;
}

// Skips the rows above the window, reads its rows into job->dst, and stops.
void ReadStep(Decompressor* d, WindowJob* job) {
  jpeg_decompress_struct* cinfo = &d->cinfo;
  if (job->y0 > 0) jpeg_skip_scanlines(cinfo, static_cast<JDIMENSION>(job->y0));
  constexpr int kRowsPerCall = 16;  // libjpeg returns at most max_v_samp_factor * DCT size rows
  JSAMPROW rows[kRowsPerCall];
  int done = 0;
  while (done < job->height) {
    const int n = std::min(kRowsPerCall, job->height - done);
    for (int i = 0; i < n; ++i) rows[i] = job->dst + job->dst_stride * static_cast<size_t>(done + i);
    const JDIMENSION got = jpeg_read_scanlines(cinfo, rows, static_cast<JDIMENSION>(n));
    if (got == 0) ERREXIT(cinfo, JERR_INPUT_EMPTY);  // cannot happen with a memory source
    done += static_cast<int>(got);
  }
}

// Everything one planar decode hands to and gets from libjpeg (trivially
// destructible, as WindowJob).
struct PlanesJob {
  absl::Span<const uint8_t> bytes;
  size_t max_bytes = 0;
  YccImage* out = nullptr;
  bool applies = false;  // set by PlanesStartStep
};

// Reads the header and, for a subsampled YCbCr JPEG whose planes fit,
// lays out the planes and starts a raw-data decompression.
void PlanesStartStep(Decompressor* d, PlanesJob* job) {
  jpeg_decompress_struct* cinfo = &d->cinfo;
  jpeg_mem_src(cinfo, job->bytes.data(), job->bytes.size());
  jpeg_read_header(cinfo, TRUE);
  job->applies = false;
  if (cinfo->jpeg_color_space != JCS_YCbCr || cinfo->num_components != 3 || cinfo->data_precision != 8) return;
  const jpeg_component_info* comp = cinfo->comp_info;
  const int h = comp[0].h_samp_factor, v = comp[0].v_samp_factor;
  for (int c = 1; c < 3; ++c) {
    if (comp[c].h_samp_factor != 1 || comp[c].v_samp_factor != 1) return;
  }
  if (h != 2 || v < 1 || v > 2) return;
  // libjpeg replicates rather than interpolates chroma this narrow (jdsample.c),
  // which the resize's weights (fancy upsampling) would not match.
  if (comp[1].downsampled_width <= 2) return;
  // Whole iMCU rows of every plane: jpeg_read_raw_data writes them all.
  YccImage* out = job->out;
  size_t total = 0;
  for (int c = 0; c < 3; ++c) {
    YccImage::Plane& p = out->planes[c];
    p.offset = total;
    p.stride = static_cast<size_t>(comp[c].width_in_blocks) * DCTSIZE;
    p.width = static_cast<int>(comp[c].downsampled_width);
    p.height = static_cast<int>(comp[c].downsampled_height);
    const size_t rows = static_cast<size_t>(cinfo->total_iMCU_rows) * comp[c].v_samp_factor * DCTSIZE;
    total += p.stride * rows;
  }
  if (total > job->max_bytes) return;
  out->width = static_cast<int>(cinfo->image_width);
  out->height = static_cast<int>(cinfo->image_height);
  out->h_sub = h;
  out->v_sub = v;
  ResizeForOverwrite(&out->data, total);
  cinfo->raw_data_out = TRUE;
  cinfo->dct_method = JDCT_ISLOW;
  jpeg_start_decompress(cinfo);
  job->applies = true;
}

// Reads every iMCU row into the planes, then the rest of the file.
void PlanesReadStep(Decompressor* d, PlanesJob* job) {
  jpeg_decompress_struct* cinfo = &d->cinfo;
  const jpeg_component_info* comp = cinfo->comp_info;
  YccImage* out = job->out;
  JSAMPROW rows[3][2 * DCTSIZE];
  JSAMPARRAY arrays[3] = {rows[0], rows[1], rows[2]};
  const JDIMENSION lines = static_cast<JDIMENSION>(cinfo->max_v_samp_factor * DCTSIZE);
  for (JDIMENSION imcu = 0; imcu < cinfo->total_iMCU_rows; ++imcu) {
    for (int c = 0; c < 3; ++c) {
      const int n = comp[c].v_samp_factor * DCTSIZE;
      uint8_t* first = out->data.data() + out->planes[c].offset + out->planes[c].stride * imcu * n;
      for (int i = 0; i < n; ++i) rows[c][i] = first + out->planes[c].stride * i;
    }
    if (jpeg_read_raw_data(cinfo, arrays, lines) == 0) ERREXIT(cinfo, JERR_INPUT_EMPTY);  // not with a memory source
  }
  jpeg_finish_decompress(cinfo);
}

// The window decoder's only setjmp. Returns false if libjpeg reported an
// error or warning during `step` (the message is in d->err.message).
template <typename Job>
bool Guarded(Decompressor* d, void (*step)(Decompressor*, Job*), Job* job) {
  if (setjmp(d->err.jump)) return false;
  step(d, job);
  return true;
}

absl::StatusOr<Decompressor*> ReadyDecompressor() {
  Decompressor& d = ThreadDecompressor();
  if (d.created) return &d;
  d.cinfo.err = jpeg_std_error(&d.err.pub);
  d.err.pub.error_exit = ErrorExit;
  d.err.pub.emit_message = EmitMessage;
  d.progress.progress_monitor = ProgressMonitor;
  if (!Guarded<WindowJob>(&d, CreateStep, nullptr)) {
    return absl::ResourceExhaustedError(absl::StrCat("JPEG decoder: jpeg_create_decompress failed: ", d.err.message));
  }
  d.cinfo.progress = &d.progress;
  d.created = true;
  return &d;
}

absl::Status Failed(Decompressor* d) {
  jpeg_abort_decompress(&d->cinfo);  // ready for the next file
  return absl::InvalidArgumentError(absl::StrCat("JPEG window decode failed: ", d->err.message));
}

// A whole-image decode's error, worded as DecodeJpeg words it.
absl::Status WholeDecodeFailed(Decompressor* d) {
  jpeg_abort_decompress(&d->cinfo);
  return absl::InvalidArgumentError(absl::StrCat(
      d->err.warning ? "JPEG data corrupt or truncated: " : "JPEG decode failed: ", d->err.message));
}

bool ValidScale(int d) { return d == 1 || d == 2 || d == 4 || d == 8; }

}  // namespace

absl::Status DecodeJpegWindow(absl::Span<const uint8_t> bytes, const ImageHeader& header, const PixelRect& window,
                              int scale_denom, Image* out, PixelRect* in_out) {
  if (!ValidScale(scale_denom)) {
    return absl::InvalidArgumentError(absl::StrCat("JPEG scale 1/", scale_denom, " is not 1, 1/2, 1/4 or 1/8"));
  }
  if (window.width <= 0 || window.height <= 0 || window.x < 0 || window.y < 0 ||
      window.x > header.width - window.width || window.y > header.height - window.height) {
    return absl::InvalidArgumentError(absl::StrCat("JPEG window ", window.width, "x", window.height, "+", window.x,
                                                   "+", window.y, " is not inside the ", header.width, "x",
                                                   header.height, " image"));
  }
  absl::StatusOr<Decompressor*> ready = ReadyDecompressor();
  if (!ready.ok()) return ready.status();
  Decompressor* d = *ready;
  WindowJob job;
  job.bytes = bytes;
  job.scale_denom = scale_denom;
  job.want = window;
  if (!Guarded(d, StartStep, &job)) return Failed(d);
  // The same file PeekJpeg read: a mismatch means the bytes changed under us.
  if (static_cast<int>(d->cinfo.image_width) != header.width ||
      static_cast<int>(d->cinfo.image_height) != header.height || d->cinfo.output_components > 4) {
    jpeg_abort_decompress(&d->cinfo);
    return absl::InvalidArgumentError("JPEG header differs from the peeked one");
  }
  const bool cmyk = d->cinfo.out_color_space == JCS_CMYK;
  const int channels = d->cinfo.out_color_space == JCS_GRAYSCALE ? 1 : 3;
  out->Reset(job.width, job.height, channels, 8);
  WindowScratch& scratch = ThreadScratch();
  const size_t pixels = static_cast<size_t>(job.width) * job.height;
  if (cmyk) {
    ResizeForOverwrite(&scratch.cmyk, pixels * 4);
    job.dst = scratch.cmyk.data();
    job.dst_stride = static_cast<size_t>(job.width) * 4;
  } else {
    job.dst = out->data.data();
    job.dst_stride = out->row_bytes();
  }
  const bool read = Guarded(d, ReadStep, &job);
  if (!read) {
    ReleaseIfLarger(&scratch.cmyk, kMaxRetainedScratchBytes);
    return Failed(d);
  }
  jpeg_abort_decompress(&d->cinfo);  // the rows below the window are never decoded
  if (cmyk) {
    CmykToRgb(scratch.cmyk.data(), pixels, out->data.data());
    ReleaseIfLarger(&scratch.cmyk, kMaxRetainedScratchBytes);
  }
  *in_out = PixelRect{job.want.x - job.x0, 0, job.want.width, job.want.height};
  return absl::OkStatus();
}

absl::StatusOr<bool> DecodeJpegYcc(absl::Span<const uint8_t> bytes, const ImageHeader& header, size_t max_bytes,
                                   YccImage* out) {
  absl::StatusOr<Decompressor*> ready = ReadyDecompressor();
  if (!ready.ok()) return ready.status();
  Decompressor* d = *ready;
  PlanesJob job;
  job.bytes = bytes;
  job.max_bytes = max_bytes;
  job.out = out;
  d->err.warning = false;
  if (!Guarded(d, PlanesStartStep, &job)) return WholeDecodeFailed(d);
  if (!job.applies) {
    jpeg_abort_decompress(&d->cinfo);
    return false;
  }
  // The same file PeekJpeg read: a mismatch means the bytes changed under us.
  if (out->width != header.width || out->height != header.height) {
    jpeg_abort_decompress(&d->cinfo);
    return absl::InvalidArgumentError("JPEG header differs from the peeked one");
  }
  if (!Guarded(d, PlanesReadStep, &job)) return WholeDecodeFailed(d);
  return true;
}

size_t JpegWindowBytes(const ImageHeader& header, const PixelRect& window, int scale_denom) {
  const int d = std::max(scale_denom, 1);
  const int64_t out_w = (int64_t{header.width} + d - 1) / d, out_h = (int64_t{header.height} + d - 1) / d;
  const int64_t w = std::min<int64_t>(window.width / d + 2 + kMaxImcu + kLeftMargin + kRightMargin, out_w);
  const int64_t h = std::min<int64_t>(window.height / d + 2, out_h);
  return static_cast<size_t>(w * h * header.channels);
}

size_t ThreadJpegWindowScratchBytes() { return CapacityBytes(ThreadScratch().cmyk); }

void ReleaseJpegWindowScratch() { ReleaseIfLarger(&ThreadScratch().cmyk, 0); }

}  // namespace imagefeed
