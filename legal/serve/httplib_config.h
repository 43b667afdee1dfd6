// Includes cpp-httplib the way Debian builds it. Debian ships cpp-httplib as a compiled library
// (libcpp-httplib.so, link with -lcpp-httplib) built with OpenSSL, zlib and Brotli support; those macros change
// the layout of httplib's classes (e.g. Client), so every translation unit that includes <httplib.h> must define
// them exactly as the library was built (pkg-config --cflags cpp-httplib), or objects are built with the wrong size.
#pragma once
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#ifndef CPPHTTPLIB_ZLIB_SUPPORT
#define CPPHTTPLIB_ZLIB_SUPPORT
#endif
#ifndef CPPHTTPLIB_BROTLI_SUPPORT
#define CPPHTTPLIB_BROTLI_SUPPORT
#endif
#include <httplib.h>
