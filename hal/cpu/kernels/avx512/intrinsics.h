// What every AVX-512 translation unit includes first, instead of <immintrin.h>. GCC 12's
// AVX-512 intrinsics pass _mm512_undefined_*() as the unused merge source of unmasked
// forms, which -Wuninitialized then reports at every call site; the values are never
// read, so those warnings are off for the rest of the translation unit.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
