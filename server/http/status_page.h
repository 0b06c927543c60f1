#ifndef IMAGEFEED_SERVER_HTTP_STATUS_PAGE_H_
#define IMAGEFEED_SERVER_HTTP_STATUS_PAGE_H_

namespace imagefeed {

// The status page served at "/": one self-contained HTML document (inline
// CSS, JS and SVG, nothing fetched from elsewhere) that polls /api/status
// every second and /contact_sheet.png every few seconds. It holds no data of
// its own, so it is served without a token; the page sends the token it
// finds in its URL fragment (#token=...) with its own requests.
const char* StatusPageHtml();

}  // namespace imagefeed

#endif  // IMAGEFEED_SERVER_HTTP_STATUS_PAGE_H_
