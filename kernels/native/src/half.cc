// IEEE f16 <-> f32 for the trace codec (lib/trace/codec.ts), rounding to nearest even. The F16C
// loops use the hardware conversion; the scalar pair beside them is the reference, the same rule
// as float32ToF16Bits in lib/model/bf16.ts. A NaN becomes sign | 0x7e00 on both paths.
#include <cmath>
#include <cstring>
#include <immintrin.h>

#include "kernels.h"

namespace cotscope {

namespace {

constexpr float kHalfMax = 65504.0f;

inline uint32_t bitsOf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

inline float floatOf(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// A finite value f16 cannot hold (infinities and NaN are carried as such).
inline bool beyondHalfRange(float value) { return std::isfinite(value) && (value > kHalfMax || value < -kHalfMax); }

}  // namespace

uint16_t f32ToF16Scalar(float value) {
  const uint32_t bits = bitsOf(value);
  const uint32_t sign = (bits >> 16) & 0x8000;
  const int exponent = static_cast<int>((bits >> 23) & 0xff);
  const uint32_t mantissa = bits & 0x7fffff;
  if (exponent == 0xff) return static_cast<uint16_t>(sign | 0x7c00 | (mantissa ? 0x200 : 0));
  const int halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00);
  if (halfExponent <= 0) {
    if (halfExponent < -10) return static_cast<uint16_t>(sign);
    const uint32_t significand = mantissa | 0x800000;
    const int shift = 14 - halfExponent;
    const uint32_t truncated = significand >> shift;
    const uint32_t remainder = significand & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    const bool roundUp = remainder > halfway || (remainder == halfway && (truncated & 1));
    return static_cast<uint16_t>(sign | (truncated + (roundUp ? 1 : 0)));
  }
  const uint32_t truncated = (static_cast<uint32_t>(halfExponent) << 10) | (mantissa >> 13);
  const uint32_t remainder = mantissa & 0x1fff;
  const bool roundUp = remainder > 0x1000 || (remainder == 0x1000 && (truncated & 1));
  return static_cast<uint16_t>(sign | (truncated + (roundUp ? 1 : 0)));
}

float f16ToF32Scalar(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000) << 16;
  const uint32_t exponent = (half >> 10) & 0x1f;
  const uint32_t mantissa = half & 0x3ff;
  if (exponent == 0x1f) return floatOf(sign | 0x7f800000 | (mantissa << 13));
  if (exponent != 0) return floatOf(sign | ((exponent + 112) << 23) | (mantissa << 13));
  const float magnitude = static_cast<float>(mantissa) * (1.0f / 16777216.0f);  // subnormal: mantissa * 2^-24
  return sign ? -magnitude : magnitude;
}

bool hasF16c() { return __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c"); }

bool f32ToF16Checked(const float* in, size_t n, uint16_t* out) {
  bool fits = true;
  for (size_t i = 0; i < n; i++) {
    fits = fits && !beyondHalfRange(in[i]);
    out[i] = f32ToF16Scalar(in[i]);
  }
  return fits;
}

void f16ToF32(const uint16_t* in, size_t n, float* out) {
  for (size_t i = 0; i < n; i++) out[i] = f16ToF32Scalar(in[i]);
}

#pragma GCC push_options
#pragma GCC target("avx,f16c")

bool f32ToF16CheckedF16c(const float* in, size_t n, uint16_t* out) {
  const __m256 limit = _mm256_set1_ps(kHalfMax);
  const __m256 infinity = _mm256_set1_ps(INFINITY);
  const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 beyond = _mm256_setzero_ps();
  __m256 nan = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(in + i);
    const __m256 magnitude = _mm256_and_ps(x, absMask);
    beyond = _mm256_or_ps(beyond, _mm256_and_ps(_mm256_cmp_ps(magnitude, limit, _CMP_GT_OQ), _mm256_cmp_ps(magnitude, infinity, _CMP_LT_OQ)));
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  bool fits = _mm256_movemask_ps(beyond) == 0;
  // The hardware keeps a NaN's payload bits; the codec writes one NaN pattern.
  if (_mm256_movemask_ps(nan) != 0) {
    for (size_t j = 0; j < i; j++) {
      if (in[j] != in[j]) out[j] = f32ToF16Scalar(in[j]);
    }
  }
  return f32ToF16Checked(in + i, n - i, out + i) && fits;
}

void f16ToF32F16c(const uint16_t* in, size_t n, float* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
  }
  f16ToF32(in + i, n - i, out + i);
}

#pragma GCC pop_options

}  // namespace cotscope
