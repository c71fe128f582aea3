#include "kernels.h"

#include <immintrin.h>

#include <array>
#include <cmath>
#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "thread_pool.h"

namespace cotscope {

namespace {

// E2M1 by nibble: bit 3 sign, bits 2-1 exponent, bit 0 mantissa; nibble 8 is -0.
const float kE2m1[16] = {+0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f,
                         -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};
// The same values doubled: integers, which the AVX-512 decoder and the Q8 dots use.
const int8_t kDoubledE2m1[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
// The same values as bf16 (a float's upper 16 bits), which the AVX2 decoder uses: the high byte
// holds the sign and the exponent's upper bits, the low byte the exponent's lowest bit and the
// mantissa bit.
alignas(16) const uint8_t kE2m1Bf16High[16] = {0x00, 0x3F, 0x3F, 0x3F, 0x40, 0x40, 0x40, 0x40,
                                               0x80, 0xBF, 0xBF, 0xBF, 0xC0, 0xC0, 0xC0, 0xC0};
alignas(16) const uint8_t kE2m1Bf16Low[16] = {0x00, 0x00, 0x80, 0xC0, 0x00, 0x40, 0x80, 0xC0,
                                              0x00, 0x00, 0x80, 0xC0, 0x00, 0x40, 0x80, 0xC0};
// What the VNNI Q8 dot adds to the doubled values to make them unsigned (0..24) for vpdpbusd, and
// q8OffsetCorrection takes back out: their largest magnitude.
constexpr int kQ8WeightOffset = 12;

float bitsToFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

std::unique_ptr<ThreadPool>& pool() {
  static std::unique_ptr<ThreadPool> instance(new ThreadPool(1));
  return instance;
}

}  // namespace

const char* isaName(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "scalar";
  }
}

Isa detectIsa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
  return Isa::Scalar;
}

// Outside the SIMD target regions: it runs on every CPU.
bool hasAvx512Vnni() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
}

float e8m0Scale(uint8_t s) {
  if (s == 0xFF) return std::numeric_limits<float>::quiet_NaN();
  // 2^(s-127): a normal float's exponent field, except s = 0 which is the subnormal 2^-127.
  return s == 0 ? bitsToFloat(0x00400000u) : bitsToFloat(static_cast<uint32_t>(s) << 23);
}

// e8m0Scale(s) * factor for every s (exact: factor is a power of two).
static std::array<float, 256> e8m0ScaleTable(float factor) {
  std::array<float, 256> table{};
  for (int s = 0; s < 256; s++) table[s] = e8m0Scale(static_cast<uint8_t>(s)) * factor;
  return table;
}

static const float* e8m0Scales() {
  static const auto table = e8m0ScaleTable(1.0f);
  return table.data();
}

// e8m0Scale(s) / 2, for kernels that decode doubled E2M1 values.
static const float* halfE8m0Scales() {
  static const auto table = e8m0ScaleTable(0.5f);
  return table.data();
}

InputOrder mxfp4InputOrder(Isa isa, bool q8Inputs) {
  if (isa == Isa::Scalar) return InputOrder::Element;
  return isa == Isa::Avx2 && !q8Inputs ? InputOrder::Avx2Pairs : InputOrder::EvenOdd;
}

int inputPosition(int i, int n, InputOrder order) {
  const int group = i / kMxfp4Block, element = i % kMxfp4Block;
  const int odd = element % 2, j = element / 2;  // j: the byte that holds the element's nibble
  switch (order) {
    case InputOrder::Element: return i;
    case InputOrder::EvenOdd: return group * kMxfp4Block + odd * 16 + j;
    case InputOrder::Avx2Pairs: {
      // See mxfp4DecodeGroupPairAvx2: vector (j >= 8 ? 2 : 0) + j % 2 of the even or odd half, in
      // the 128-bit lane of the element's group, at 32-bit lane (j % 8) / 2.
      const int vector = (j >= 8 ? 2 : 0) + j % 2, lane = (j % 8) / 2;
      const bool paired = (group / 2) * 2 + 1 < n / kMxfp4Block;
      if (!paired) return group * kMxfp4Block + vector * 8 + odd * 4 + lane;
      return (group / 2) * 2 * kMxfp4Block + odd * 32 + vector * 8 + (group % 2) * 4 + lane;
    }
  }
  return i;
}

void toInputOrder(const float* x, int n, InputOrder order, float* out) {
  for (int i = 0; i < n; i++) out[inputPosition(i, n, order)] = x[i];
}

// Runs block(std::integral_constant<int, T>(), first) over `tokens` in blocks of at most
// kMxfp4TokenBlock, so every block calls a kernel compiled for its exact token count.
template <typename Block>
__attribute__((always_inline)) inline void forTokenBlocks(int tokens, const Block& block) {
  for (int first = 0; first < tokens; first += kMxfp4TokenBlock) {
    switch (std::min(tokens - first, kMxfp4TokenBlock)) {
      case 1: block(std::integral_constant<int, 1>(), first); break;
      case 2: block(std::integral_constant<int, 2>(), first); break;
      case 3: block(std::integral_constant<int, 3>(), first); break;
      default: block(std::integral_constant<int, 4>(), first); break;
    }
  }
}

// Rows [0, rows) of an MXFP4 matrix (row r at blocks + r * groups * 16 and scales + r * groups)
// against `tokens` inputs, out[r * tokens + t]: `kernel(T, rowBlocks, rowScales, xs, out)` is one
// instruction set's T-token kernel, inlined here so one call covers many rows.
template <typename Input, typename Kernel>
__attribute__((always_inline)) inline void forRows(const uint8_t* blocks, const uint8_t* scales, int groups, int rows, const Input* xs, int tokens, float* out, const Kernel& kernel) {
  const size_t rowBytes = static_cast<size_t>(groups) * kMxfp4BlockBytes;
  for (int r = 0; r < rows; r++) {
    forTokenBlocks(tokens, [&](auto block, int first) {
      kernel(block, blocks + r * rowBytes, scales + static_cast<size_t>(r) * groups, xs + first, out + static_cast<size_t>(r) * tokens + first);
    });
  }
}

// ---- scalar reference ----

float mxfp4DotScalar(const uint8_t* blocks, const uint8_t* scales, int groups, const float* x) {
  float total = 0.0f;
  for (int g = 0; g < groups; g++) {
    float group = 0.0f;
    for (int j = 0; j < kMxfp4BlockBytes; j++) {
      const uint8_t byte = blocks[g * kMxfp4BlockBytes + j];
      group += kE2m1[byte & 0x0F] * x[g * kMxfp4Block + 2 * j];
      group += kE2m1[byte >> 4] * x[g * kMxfp4Block + 2 * j + 1];
    }
    total += group * e8m0Scale(scales[g]);
  }
  return total;
}

void quantizeQ8(const float* x, int length, int8_t* q, float* d) {
  for (int g = 0; g * kMxfp4Block < length; g++) {
    const float* block = x + g * kMxfp4Block;
    float amax = 0.0f;
    bool nan = false;
    for (int i = 0; i < kMxfp4Block; i++) {
      nan |= std::isnan(block[i]);
      amax = std::max(amax, std::fabs(block[i]));
    }
    // As llama.cpp's Q8_0: the step is stored as f16, the values are x * 127 / max rounded.
    d[g] = nan ? std::numeric_limits<float>::quiet_NaN() : f16ToF32Scalar(f32ToF16Scalar(amax / 127.0f));
    const float inverse = amax > 0.0f && std::isfinite(amax) ? 127.0f / amax : 0.0f;
    for (int i = 0; i < kMxfp4Block; i++) q[g * kMxfp4Block + i] = static_cast<int8_t>(std::nearbyint(block[i] * inverse));
  }
}

void q8PairOrder(int8_t* q, int length) {
  constexpr int half = kMxfp4Block / 2;
  for (int g = 0; g + 2 * kMxfp4Block <= length; g += 2 * kMxfp4Block) {
    int8_t* firstOdd = q + g + half;
    int8_t* secondEven = q + g + kMxfp4Block;
    std::swap_ranges(firstOdd, firstOdd + half, secondEven);
  }
}

void q8OffsetCorrection(const int8_t* q, int length, int32_t* out) {
  for (int l = 0; 4 * l < length; l++) out[l] = -kQ8WeightOffset * (q[4 * l] + q[4 * l + 1] + q[4 * l + 2] + q[4 * l + 3]);
}

float mxfp4DotQ8Scalar(const uint8_t* blocks, const uint8_t* scales, int groups, Q8Row x) {
  const float* halfScale = halfE8m0Scales();
  float total = 0.0f;
  for (int g = 0; g < groups; g++) {
    int32_t group = 0;
    for (int j = 0; j < kMxfp4BlockBytes; j++) {
      const uint8_t byte = blocks[g * kMxfp4BlockBytes + j];
      group += kDoubledE2m1[byte & 0x0F] * x.q[g * kMxfp4Block + 2 * j];
      group += kDoubledE2m1[byte >> 4] * x.q[g * kMxfp4Block + 2 * j + 1];
    }
    total += static_cast<float>(group) * (x.d[g] * halfScale[scales[g]]);
  }
  return total;
}

float bf16DotScalar(const uint16_t* w, const float* x, int n) {
  float total = 0.0f;
  for (int i = 0; i < n; i++) total += bitsToFloat(static_cast<uint32_t>(w[i]) << 16) * x[i];
  return total;
}

void bf16DotRowsScalar(const uint16_t* w, int rows, int cols, const float* x, int tokens, float* out) {
  for (int r = 0; r < rows; r++) {
    for (int t = 0; t < tokens; t++) out[static_cast<size_t>(r) * tokens + t] = bf16DotScalar(w + static_cast<size_t>(r) * cols, x + static_cast<size_t>(t) * cols, cols);
  }
}

// How far ahead of the row being read the bf16 GEMV prefetches (one prefetch per 64 bytes). Without
// it a [201088, 512] lm_head ran at 80-84% of this machine's one-thread read and [N, 2880] at
// 80-91%; 4 KB ahead gave 89-95%, 6 KB 90-97% (AVX-512) and 96-104% (AVX2), 16 KB less again.
// Rows are contiguous, so the prefetch runs on into the next rows.
constexpr int kBf16PrefetchBytes = 6144;

// ---- AVX2 + FMA ----

#pragma GCC push_options
#pragma GCC target("avx2,fma")

// Nibbles (one per byte of `indices`) to bf16 weights: two byte lookups, interleaved into 16-bit
// words, the words of each 128-bit lane from that lane's index bytes 0-7 (words[0]), 8-15 (words[1]).
static inline void mxfp4Bf16WordsAvx2(__m256i indices, __m256i* words) {
  const __m256i highTable = _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(kE2m1Bf16High)));
  const __m256i lowTable = _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(kE2m1Bf16Low)));
  const __m256i high = _mm256_shuffle_epi8(highTable, indices), low = _mm256_shuffle_epi8(lowTable, indices);
  words[0] = _mm256_unpacklo_epi8(low, high);
  words[1] = _mm256_unpackhi_epi8(low, high);
}

// Each 32-bit lane of `words` holds two bf16 weights: the lower one as a float is the lane shifted
// up, the upper one the lane with its low half cleared.
static inline void bf16PairsToFloatsAvx2(__m256i words, __m256* floats) {
  floats[0] = _mm256_castsi256_ps(_mm256_slli_epi32(words, 16));
  floats[1] = _mm256_castsi256_ps(_mm256_and_si256(words, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u))));
}

// One group's 32 weights as four float vectors: the even elements (low nibbles) in the lower 128-bit
// lanes, the odd ones in the upper lanes; see inputPosition for the element order.
static inline void mxfp4DecodeGroupAvx2(const uint8_t* block, __m256* weights) {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block));
  const __m256i indices = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(bytes, 4), bytes), _mm256_set1_epi8(0x0F));
  __m256i words[2];
  mxfp4Bf16WordsAvx2(indices, words);
  bf16PairsToFloatsAvx2(words[0], weights);
  bf16PairsToFloatsAvx2(words[1], weights + 2);
}

// Two consecutive groups' 64 weights as eight float vectors from one 32-byte load: the even
// elements in weights[0..3] and the odd ones in weights[4..7], the first group in the lower 128-bit
// lanes. With no int-to-float conversion and half the loads and index operations per weight, this
// ran ~1.5x the previous decoder (byte shuffle of doubled values, sign-extend, convert) on AMD Zen 3.
static inline void mxfp4DecodeGroupPairAvx2(const uint8_t* blocks, __m256* weights) {
  const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks));
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  __m256i words[4];
  mxfp4Bf16WordsAvx2(_mm256_and_si256(bytes, nibble), words);
  mxfp4Bf16WordsAvx2(_mm256_and_si256(_mm256_srli_epi16(bytes, 4), nibble), words + 2);
  for (int i = 0; i < 4; i++) bf16PairsToFloatsAvx2(words[i], weights + 2 * i);
}

// The dot of N decoded weight vectors with x in their order, in a fixed order: two chains (the
// first and second half of the vectors), then their sum.
template <int N>
__attribute__((always_inline)) static inline __m256 decodedDotAvx2(const __m256* weights, const float* x) {
  __m256 first = _mm256_mul_ps(weights[0], _mm256_loadu_ps(x));
  __m256 second = _mm256_mul_ps(weights[N / 2], _mm256_loadu_ps(x + 8 * (N / 2)));
  for (int i = 1; i < N / 2; i++) {
    first = _mm256_fmadd_ps(weights[i], _mm256_loadu_ps(x + 8 * i), first);
    second = _mm256_fmadd_ps(weights[N / 2 + i], _mm256_loadu_ps(x + 8 * (N / 2 + i)), second);
  }
  return _mm256_add_ps(first, second);
}

static inline float horizontalSumAvx2(__m256 v) {
  const __m128 quad = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
  return _mm_cvtss_f32(_mm_add_ss(pair, _mm_movehdup_ps(pair)));
}

// [s0 x4, s1 x4]: the scale of each lane of a vector whose 128-bit halves belong to two groups.
static inline __m256 pairScaleAvx2(float s0, float s1) {
  return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_set1_ps(s0)), _mm_set1_ps(s1), 1);
}

// T tokens against one MXFP4 row: each pair of groups is decoded once and used T times, scaled
// per group lane by lane; every token keeps its own accumulator, so its result is bitwise its
// one-token dot.
template <int T>
__attribute__((always_inline)) static inline void mxfp4DotTokensAvx2T(const uint8_t* blocks, const uint8_t* scales, int groups, const float* const* xs, float* out) {
  const float* scale = e8m0Scales();
  __m256 acc[T];
  for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
  int g = 0;
  for (; g + 1 < groups; g += 2) {
    __m256 weights[8];
    mxfp4DecodeGroupPairAvx2(blocks + g * kMxfp4BlockBytes, weights);
    const __m256 pairScale = pairScaleAvx2(scale[scales[g]], scale[scales[g + 1]]);
    for (int t = 0; t < T; t++) acc[t] = _mm256_fmadd_ps(decodedDotAvx2<8>(weights, xs[t] + g * kMxfp4Block), pairScale, acc[t]);
  }
  if (g < groups) {
    __m256 weights[4];
    mxfp4DecodeGroupAvx2(blocks + g * kMxfp4BlockBytes, weights);
    const __m256 groupScale = _mm256_set1_ps(scale[scales[g]]);
    for (int t = 0; t < T; t++) acc[t] = _mm256_fmadd_ps(decodedDotAvx2<4>(weights, xs[t] + g * kMxfp4Block), groupScale, acc[t]);
  }
  for (int t = 0; t < T; t++) out[t] = horizontalSumAvx2(acc[t]);
}

void mxfp4DotRowsAvx2(const uint8_t* blocks, const uint8_t* scales, int groups, int rows, const float* const* xs, int tokens, float* out) {
  forRows(blocks, scales, groups, rows, xs, tokens, out, [groups](auto block, const uint8_t* b, const uint8_t* s, const float* const* x, float* o) {
    mxfp4DotTokensAvx2T<decltype(block)::value>(b, s, groups, x, o);
  });
}

// 32 doubled E2M1 weights as int8: the block's low nibbles (even elements) in the low half.
static inline __m256i mxfp4DecodeGroupBytesAvx2(const uint8_t* block) {
  const __m256i doubledE2m1 = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kDoubledE2m1)));
  const __m128i nibble = _mm_set1_epi8(0x0F);
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block));
  const __m128i even = _mm_and_si128(bytes, nibble);
  const __m128i odd = _mm_and_si128(_mm_srli_epi16(bytes, 4), nibble);
  return _mm256_shuffle_epi8(doubledE2m1, _mm256_set_m128i(odd, even));
}

// One group of Q8 products (EvenOdd order): 32 int8 products summed exactly in int32 lanes
// (maddubs takes |w| unsigned and q with w's sign; |pairs| <= 2 * 12 * 127), scaled into acc.
__attribute__((always_inline)) static inline __m256 mxfp4Q8GroupAvx2(const uint8_t* block, const int8_t* q, float scale, __m256 acc) {
  const __m256i w = mxfp4DecodeGroupBytesAvx2(block);
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)), w));
  const __m256 sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
  return _mm256_fmadd_ps(sums, _mm256_set1_ps(scale), acc);
}

// As mxfp4DotTokensAvx2T on Q8 inputs in pair order (q8PairOrder): two groups' 32 bytes give
// their even weights in one vector and their odd weights in another, matching q's
// [even0, even1] and [odd0, odd1]; even and odd products are added as int16 (|sum| <= 6096),
// widened once, and each int32 lane scaled by its own group's scale.
template <int T>
__attribute__((always_inline)) static inline void mxfp4DotQ8TokensAvx2T(const uint8_t* blocks, const uint8_t* scales, int groups, const Q8Row* xs, float* out) {
  const float* halfScale = halfE8m0Scales();
  const __m256i doubledE2m1 = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kDoubledE2m1)));
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[T];
  for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
  int g = 0;
  for (; g + 1 < groups; g += 2) {
    const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks + g * kMxfp4BlockBytes));
    const __m256i even = _mm256_shuffle_epi8(doubledE2m1, _mm256_and_si256(bytes, nibble));
    const __m256i odd = _mm256_shuffle_epi8(doubledE2m1, _mm256_and_si256(_mm256_srli_epi16(bytes, 4), nibble));
    const __m256i evenMagnitude = _mm256_sign_epi8(even, even), oddMagnitude = _mm256_sign_epi8(odd, odd);
    const float s0 = halfScale[scales[g]], s1 = halfScale[scales[g + 1]];
    for (int t = 0; t < T; t++) {
      const int8_t* q = xs[t].q + g * kMxfp4Block;
      const __m256i evenPairs = _mm256_maddubs_epi16(evenMagnitude, _mm256_sign_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)), even));
      const __m256i oddPairs = _mm256_maddubs_epi16(oddMagnitude, _mm256_sign_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32)), odd));
      const __m256 sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_add_epi16(evenPairs, oddPairs), ones));
      acc[t] = _mm256_fmadd_ps(sums, pairScaleAvx2(xs[t].d[g] * s0, xs[t].d[g + 1] * s1), acc[t]);
    }
  }
  if (g < groups) {
    for (int t = 0; t < T; t++) acc[t] = mxfp4Q8GroupAvx2(blocks + g * kMxfp4BlockBytes, xs[t].q + g * kMxfp4Block, xs[t].d[g] * halfScale[scales[g]], acc[t]);
  }
  for (int t = 0; t < T; t++) out[t] = horizontalSumAvx2(acc[t]);
}

void mxfp4DotQ8RowsAvx2(const uint8_t* blocks, const uint8_t* scales, int groups, int rows, const Q8Row* xs, int tokens, float* out) {
  forRows(blocks, scales, groups, rows, xs, tokens, out, [groups](auto block, const uint8_t* b, const uint8_t* s, const Q8Row* x, float* o) {
    mxfp4DotQ8TokensAvx2T<decltype(block)::value>(b, s, groups, x, o);
  });
}

static inline __m256 bf16LoadAvx2(const uint16_t* w) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

// T tokens (x rows `stride` apart) against one weight row: each weight vector is widened once
// and used T times; every token keeps its own four accumulators (the remainder's vectors go to
// accumulators 0, 1, 2 in turn, then a scalar tail), so its result is bitwise the one-token dot's.
template <int T>
__attribute__((always_inline)) static inline void bf16DotTokensAvx2T(const uint16_t* w, const float* x, size_t stride, int n, float* out) {
  __m256 acc[T][4];
  for (int t = 0; t < T; t++) for (int a = 0; a < 4; a++) acc[t][a] = _mm256_setzero_ps();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    _mm_prefetch(reinterpret_cast<const char*>(w + i) + kBf16PrefetchBytes, _MM_HINT_T0);
    for (int a = 0; a < 4; a++) {
      const __m256 wv = bf16LoadAvx2(w + i + 8 * a);
      for (int t = 0; t < T; t++) acc[t][a] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + t * stride + i + 8 * a), acc[t][a]);
    }
  }
  for (int a = 0; a < 3; a++) {
    if (i + 8 > n) break;
    const __m256 wv = bf16LoadAvx2(w + i);
    for (int t = 0; t < T; t++) acc[t][a] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + t * stride + i), acc[t][a]);
    i += 8;
  }
  for (int t = 0; t < T; t++) {
    float total = horizontalSumAvx2(_mm256_add_ps(_mm256_add_ps(acc[t][0], acc[t][1]), _mm256_add_ps(acc[t][2], acc[t][3])));
    for (int j = i; j < n; j++) total += bitsToFloat(static_cast<uint32_t>(w[j]) << 16) * x[t * stride + j];
    out[t] = total;
  }
}

float bf16DotAvx2(const uint16_t* w, const float* x, int n) {
  float out;
  bf16DotTokensAvx2T<1>(w, x, 0, n, &out);
  return out;
}

void bf16DotRowsAvx2(const uint16_t* w, int rows, int cols, const float* x, int tokens, float* out) {
  for (int t = 0; t < tokens; t += kBf16TokenBlock) {
    const float* xt = x + static_cast<size_t>(t) * cols;
    const int block = std::min(tokens - t, kBf16TokenBlock);
    for (int r = 0; r < rows; r++) {
      const uint16_t* row = w + static_cast<size_t>(r) * cols;
      float* dots = out + static_cast<size_t>(r) * tokens + t;
      switch (block) {
        case 1: bf16DotTokensAvx2T<1>(row, xt, cols, cols, dots); break;
        case 2: bf16DotTokensAvx2T<2>(row, xt, cols, cols, dots); break;
        case 3: bf16DotTokensAvx2T<3>(row, xt, cols, cols, dots); break;
        default: bf16DotTokensAvx2T<4>(row, xt, cols, cols, dots); break;
      }
    }
  }
}

#pragma GCC pop_options

// ---- AVX-512 (F + BW) ----

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx2,fma")

// The doubled E2M1 values as floats, the table vpermps looks nibbles up in.
static inline __m512 doubledE2m1Avx512() { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kDoubledE2m1)))); }

// One group's 32 weights, the even elements in one vector and the odd ones in the other: each byte
// widened to a 32-bit lane and looked up with vpermps, which reads only an index's low 4 bits (the
// low nibble as it stands, the high nibble after a shift). Side by side on AMD Zen 4 this beat the
// earlier AVX2 decoder (byte shuffle, int-to-float conversion) at 16 lanes, with bitwise the same results.
static inline void mxfp4DecodeGroupAvx512(const uint8_t* block, __m512 table, __m512* weights) {
  const __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block)));
  weights[0] = _mm512_permutexvar_ps(bytes, table);
  weights[1] = _mm512_permutexvar_ps(_mm512_srli_epi32(bytes, 4), table);
}

template <int T>
__attribute__((always_inline)) static inline void mxfp4AccumulateGroupAvx512(const uint8_t* blocks, __m512 table, float halfScale, int g, const float* const* xs, __m512* acc) {
  __m512 weights[2];
  mxfp4DecodeGroupAvx512(blocks + g * kMxfp4BlockBytes, table, weights);
  const __m512 scale = _mm512_set1_ps(halfScale);
  for (int t = 0; t < T; t++) {
    const float* x = xs[t] + g * kMxfp4Block;
    const __m512 dot = _mm512_fmadd_ps(weights[1], _mm512_loadu_ps(x + 16), _mm512_mul_ps(weights[0], _mm512_loadu_ps(x)));
    acc[t] = _mm512_fmadd_ps(dot, scale, acc[t]);
  }
}

// How far ahead of the group being decoded the AVX-512 kernel prefetches. With the decoder above and
// the hardware prefetcher alone, rows streamed from memory ran well below the same rows in cache
// on Zen 4; one prefetch per 64 bytes, 1 KB ahead, closed most of that gap.
constexpr int kMxfp4PrefetchBytes = 1024;

// Each group decoded once for T tokens, each token's result bitwise its one-token dot; even and
// odd groups go to two accumulators.
template <int T>
__attribute__((always_inline)) static inline void mxfp4DotTokensAvx512T(const uint8_t* blocks, const uint8_t* scales, int groups, const float* const* xs, float* out) {
  const float* halfScale = halfE8m0Scales();
  const __m512 table = doubledE2m1Avx512();
  __m512 even[T], odd[T];
  for (int t = 0; t < T; t++) even[t] = odd[t] = _mm512_setzero_ps();
  const auto accumulate = [&](int g, __m512* acc) { mxfp4AccumulateGroupAvx512<T>(blocks, table, halfScale[scales[g]], g, xs, acc); };
  int g = 0;
  for (; g + 3 < groups; g += 4) {
    _mm_prefetch(reinterpret_cast<const char*>(blocks + g * kMxfp4BlockBytes + kMxfp4PrefetchBytes), _MM_HINT_T0);
    accumulate(g, even);
    accumulate(g + 1, odd);
    accumulate(g + 2, even);
    accumulate(g + 3, odd);
  }
  for (; g + 1 < groups; g += 2) {
    accumulate(g, even);
    accumulate(g + 1, odd);
  }
  if (g < groups) accumulate(g, even);
  for (int t = 0; t < T; t++) out[t] = _mm512_reduce_add_ps(_mm512_add_ps(even[t], odd[t]));
}

void mxfp4DotRowsAvx512(const uint8_t* blocks, const uint8_t* scales, int groups, int rows, const float* const* xs, int tokens, float* out) {
  forRows(blocks, scales, groups, rows, xs, tokens, out, [groups](auto block, const uint8_t* b, const uint8_t* s, const float* const* x, float* o) {
    mxfp4DotTokensAvx512T<decltype(block)::value>(b, s, groups, x, o);
  });
}

static inline __m512 bf16LoadAvx512(const uint16_t* w) {
  const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}

// As bf16DotTokensAvx2T, 16 lanes per vector.
template <int T>
__attribute__((always_inline)) static inline void bf16DotTokensAvx512T(const uint16_t* w, const float* x, size_t stride, int n, float* out) {
  __m512 acc[T][4];
  for (int t = 0; t < T; t++) for (int a = 0; a < 4; a++) acc[t][a] = _mm512_setzero_ps();
  int i = 0;
  for (; i + 64 <= n; i += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(w + i) + kBf16PrefetchBytes, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(w + i) + kBf16PrefetchBytes + 64, _MM_HINT_T0);
    for (int a = 0; a < 4; a++) {
      const __m512 wv = bf16LoadAvx512(w + i + 16 * a);
      for (int t = 0; t < T; t++) acc[t][a] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + t * stride + i + 16 * a), acc[t][a]);
    }
  }
  for (int a = 0; a < 3; a++) {
    if (i + 16 > n) break;
    const __m512 wv = bf16LoadAvx512(w + i);
    for (int t = 0; t < T; t++) acc[t][a] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + t * stride + i), acc[t][a]);
    i += 16;
  }
  for (int t = 0; t < T; t++) {
    float total = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]), _mm512_add_ps(acc[t][2], acc[t][3])));
    for (int j = i; j < n; j++) total += bitsToFloat(static_cast<uint32_t>(w[j]) << 16) * x[t * stride + j];
    out[t] = total;
  }
}

float bf16DotAvx512(const uint16_t* w, const float* x, int n) {
  float out;
  bf16DotTokensAvx512T<1>(w, x, 0, n, &out);
  return out;
}

void bf16DotRowsAvx512(const uint16_t* w, int rows, int cols, const float* x, int tokens, float* out) {
  for (int t = 0; t < tokens; t += kBf16TokenBlock) {
    const float* xt = x + static_cast<size_t>(t) * cols;
    const int block = std::min(tokens - t, kBf16TokenBlock);
    for (int r = 0; r < rows; r++) {
      const uint16_t* row = w + static_cast<size_t>(r) * cols;
      float* dots = out + static_cast<size_t>(r) * tokens + t;
      switch (block) {
        case 1: bf16DotTokensAvx512T<1>(row, xt, cols, cols, dots); break;
        case 2: bf16DotTokensAvx512T<2>(row, xt, cols, cols, dots); break;
        case 3: bf16DotTokensAvx512T<3>(row, xt, cols, cols, dots); break;
        default: bf16DotTokensAvx512T<4>(row, xt, cols, cols, dots); break;
      }
    }
  }
}

#pragma GCC pop_options

// ---- AVX-512 VNNI: the Q8 dot ----

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")

// Whether a row's scales hold 0, 1 or 0xFF: the VNNI kernel makes 2^(s - 128) as the float bits
// (s - 1) << 23, which holds for s in 2..254 only (0 and 1 are subnormal, 0xFF is NaN).
static inline bool hasScaleOutsideNormalRange(const uint8_t* scales, int groups) {
  for (int g = 0; g < groups; g += 64) {
    const __mmask64 live = groups - g >= 64 ? ~0ULL : (1ULL << (groups - g)) - 1;
    const __m512i s = _mm512_maskz_loadu_epi8(live, scales + g);
    if (_mm512_mask_cmple_epu8_mask(live, s, _mm512_set1_epi8(1)) | _mm512_mask_cmpeq_epi8_mask(live, s, _mm512_set1_epi8(-1))) return true;
  }
  return false;
}

// The exact int32 dots of q with one pair of groups' weights, from their nibbles in Q8 pair order
// ([even0, even1, odd0, odd1], 16 each): lane l holds q's bytes 4l..4l+3 times their weights.
// `table`: offsetDoubledE2m1Vnni() in every 128-bit lane.
static inline __m512i q8PairSumsVnni(__m512i table, __m512i nibbles, const int8_t* q, const int32_t* correction) {
  return _mm512_dpbusd_epi32(_mm512_loadu_si512(correction), _mm512_shuffle_epi8(table, nibbles), _mm512_loadu_si512(q));
}

// The doubled E2M1 values plus kQ8WeightOffset, by nibble.
static inline __m128i offsetDoubledE2m1Vnni() {
  return _mm_add_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kDoubledE2m1)), _mm_set1_epi8(kQ8WeightOffset));
}

// How far ahead the VNNI kernel prefetches, one prefetch per 64 bytes: from memory on Zen 4 it ran
// 15.7-16.8 GB/s with 1 KB, 17.3-17.8 with 2 KB and 17.5 with 4 KB (bench:bandwidth).
constexpr int kQ8PrefetchBytes = 2048;

// As mxfp4DotQ8TokensAvx2T, 64 weights per vector: each four groups' 64 bytes give two pairs'
// nibbles, each pair's int32 sums are scaled lane by lane (lanes 0-3 and 8-11 by the pair's first
// group, 4-7 and 12-15 by its second) into two accumulators. On AMD Zen 4 this ran ~1.33x the AVX2
// kernel on rows in L2 (scratch microbenchmark) and ~1.2x from memory (bench:bandwidth): vpdpbusd
// replaces sign, maddubs and madd, and the scales of four groups are made in one vector instead of
// looked up one by one.
template <int T>
__attribute__((always_inline)) static inline void mxfp4DotQ8TokensVnniT(const uint8_t* blocks, const uint8_t* scales, int groups, const Q8Row* xs, float* out) {
  if (hasScaleOutsideNormalRange(scales, groups)) return mxfp4DotQ8TokensAvx2T<T>(blocks, scales, groups, xs, out);
  const float* halfScale = halfE8m0Scales();
  const __m512i table = _mm512_broadcast_i32x4(offsetDoubledE2m1Vnni());
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  const __m512i firstPairLanes = _mm512_set_epi32(1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0);
  const __m512i secondPairLanes = _mm512_add_epi32(firstPairLanes, _mm512_set1_epi32(2));
  __m512 acc[T][2];
  __m256 single[T];
  for (int t = 0; t < T; t++) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
  int g = 0;
  for (; g + 3 < groups; g += 4) {
    _mm_prefetch(reinterpret_cast<const char*>(blocks + g * kMxfp4BlockBytes + kQ8PrefetchBytes), _MM_HINT_T0);
    const __m512i bytes = _mm512_loadu_si512(blocks + g * kMxfp4BlockBytes);
    const __m512i low = _mm512_and_si512(bytes, nibble), high = _mm512_and_si512(_mm512_srli_epi16(bytes, 4), nibble);
    const __m512i firstPair = _mm512_shuffle_i64x2(low, high, 0x44), secondPair = _mm512_shuffle_i64x2(low, high, 0xEE);
    int32_t fourScales;
    std::memcpy(&fourScales, scales + g, sizeof fourScales);
    // 2^(s - 128), half the E8M0 scale as the weights are doubled, for the four groups.
    const __m128 halfScales = _mm_castsi128_ps(_mm_sub_epi32(_mm_slli_epi32(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(fourScales)), 23), _mm_set1_epi32(1 << 23)));
    for (int t = 0; t < T; t++) {
      const __m512 groupScales = _mm512_castps128_ps512(_mm_mul_ps(_mm_loadu_ps(xs[t].d + g), halfScales));
      const int8_t* q = xs[t].q + g * kMxfp4Block;
      const int32_t* correction = xs[t].offsetCorrection + g * 8;
      acc[t][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(q8PairSumsVnni(table, firstPair, q, correction)), _mm512_permutexvar_ps(firstPairLanes, groupScales), acc[t][0]);
      acc[t][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(q8PairSumsVnni(table, secondPair, q + 64, correction + 16)), _mm512_permutexvar_ps(secondPairLanes, groupScales), acc[t][1]);
    }
  }
  if (g + 1 < groups) {
    const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks + g * kMxfp4BlockBytes));
    const __m256i nibble256 = _mm256_set1_epi8(0x0F);
    const __m512i pair = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(bytes, nibble256)), _mm256_and_si256(_mm256_srli_epi16(bytes, 4), nibble256), 1);
    for (int t = 0; t < T; t++) {
      const __m512 pairScales = _mm512_mask_blend_ps(0xF0F0, _mm512_set1_ps(xs[t].d[g] * halfScale[scales[g]]), _mm512_set1_ps(xs[t].d[g + 1] * halfScale[scales[g + 1]]));
      acc[t][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(q8PairSumsVnni(table, pair, xs[t].q + g * kMxfp4Block, xs[t].offsetCorrection + g * 8)), pairScales, acc[t][0]);
    }
    g += 2;
  }
  const bool unpaired = g < groups;  // one last group, EvenOdd: [even, odd]
  if (unpaired) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks + g * kMxfp4BlockBytes));
    const __m256i nibbles = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(bytes, 4), bytes), _mm256_set1_epi8(0x0F));
    const __m256i weights = _mm256_shuffle_epi8(_mm512_castsi512_si256(table), nibbles);
    for (int t = 0; t < T; t++) {
      const __m256i correction = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs[t].offsetCorrection + g * 8));
      const __m256i sums = _mm256_dpbusd_epi32(correction, weights, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs[t].q + g * kMxfp4Block)));
      single[t] = _mm256_mul_ps(_mm256_cvtepi32_ps(sums), _mm256_set1_ps(xs[t].d[g] * halfScale[scales[g]]));
    }
  }
  for (int t = 0; t < T; t++) {
    out[t] = _mm512_reduce_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]));
    if (unpaired) out[t] += horizontalSumAvx2(single[t]);
  }
}

void mxfp4DotQ8RowsAvx512Vnni(const uint8_t* blocks, const uint8_t* scales, int groups, int rows, const Q8Row* xs, int tokens, float* out) {
  forRows(blocks, scales, groups, rows, xs, tokens, out, [groups](auto block, const uint8_t* b, const uint8_t* s, const Q8Row* x, float* o) {
    mxfp4DotQ8TokensVnniT<decltype(block)::value>(b, s, groups, x, o);
  });
}

#pragma GCC pop_options

// ---- dispatch and the MoE layer ----

namespace {

using Mxfp4DotRows = void (*)(const uint8_t*, const uint8_t*, int, int, const float* const*, int, float*);
using Mxfp4DotQ8Rows = void (*)(const uint8_t*, const uint8_t*, int, int, const Q8Row*, int, float*);
using Bf16DotRows = void (*)(const uint16_t*, int, int, const float*, int, float*);

// The scalar references, row by row and token by token.
void mxfp4DotRowsScalar(const uint8_t* blocks, const uint8_t* scales, int groups, int rows, const float* const* xs, int tokens, float* out) {
  forRows(blocks, scales, groups, rows, xs, tokens, out, [groups](auto block, const uint8_t* b, const uint8_t* s, const float* const* x, float* o) {
    for (int t = 0; t < decltype(block)::value; t++) o[t] = mxfp4DotScalar(b, s, groups, x[t]);
  });
}

void mxfp4DotQ8RowsScalar(const uint8_t* blocks, const uint8_t* scales, int groups, int rows, const Q8Row* xs, int tokens, float* out) {
  forRows(blocks, scales, groups, rows, xs, tokens, out, [groups](auto block, const uint8_t* b, const uint8_t* s, const Q8Row* x, float* o) {
    for (int t = 0; t < decltype(block)::value; t++) o[t] = mxfp4DotQ8Scalar(b, s, groups, x[t]);
  });
}

// Rows of `width` floats quantized to Q8 blocks.
struct Q8Rows {
  std::vector<int8_t> q;
  std::vector<float> d;
  std::vector<int32_t> offsetCorrection;
  int width;
  // `rows` in EvenOdd order (SIMD, then rearranged by q8PairOrder when `pairOrder`) or element order.
  Q8Rows(const std::vector<float>& rows, int width, bool pairOrder) : q(rows.size()), d(rows.size() / kMxfp4Block), offsetCorrection(rows.size() / 4), width(width) {
    for (size_t r = 0; r * width < rows.size(); r++) {
      quantizeQ8(rows.data() + r * width, width, q.data() + r * width, d.data() + r * width / kMxfp4Block);
      if (pairOrder) q8PairOrder(q.data() + r * width, width);
      q8OffsetCorrection(q.data() + r * width, width, offsetCorrection.data() + r * width / 4);
    }
  }
  Q8Row row(int r) const {
    const size_t first = static_cast<size_t>(r) * width;
    return {q.data() + first, d.data() + first / kMxfp4Block, offsetCorrection.data() + first / 4};
  }
};

// Q8 dots: AVX-512 with VNNI, else AVX2 on AVX-512 machines too (every AVX-512 CPU has AVX2).
Mxfp4DotQ8Rows mxfp4DotQ8RowsFor(Isa isa) {
  static const bool vnni = hasAvx512Vnni();
  if (isa == Isa::Scalar) return mxfp4DotQ8RowsScalar;
  return isa == Isa::Avx512 && vnni ? mxfp4DotQ8RowsAvx512Vnni : mxfp4DotQ8RowsAvx2;
}

Mxfp4DotRows mxfp4DotRowsFor(Isa isa) {
  return isa == Isa::Avx512 ? mxfp4DotRowsAvx512 : isa == Isa::Avx2 ? mxfp4DotRowsAvx2 : mxfp4DotRowsScalar;
}

Bf16DotRows bf16DotRowsFor(Isa isa) {
  return isa == Isa::Avx512 ? bf16DotRowsAvx512 : isa == Isa::Avx2 ? bf16DotRowsAvx2 : bf16DotRowsScalar;
}

}  // namespace

void moeForward(const MoeProblem& p, Isa isa) {
  const int S = p.tokens, H = p.hidden, I = p.intermediate, E = p.experts, k = p.k;
  const int groupsUp = H / kMxfp4Block, groupsDown = I / kMxfp4Block;
  const InputOrder order = mxfp4InputOrder(isa, p.q8Inputs);
  const Mxfp4DotRows dots = mxfp4DotRowsFor(isa);
  const Mxfp4DotQ8Rows q8Dots = mxfp4DotQ8RowsFor(isa);

  std::vector<float> xs(static_cast<size_t>(S) * H);
  for (int t = 0; t < S; t++) toInputOrder(p.x + static_cast<size_t>(t) * H, H, order, xs.data() + static_cast<size_t>(t) * H);

  // Slots (token * k + j) routed to each expert, in token order.
  std::vector<std::vector<int>> slotsOf(E);
  for (int slot = 0; slot < S * k; slot++) {
    const int e = p.ids[slot];
    if (e < 0 || e >= E) throw std::out_of_range("expert id " + std::to_string(e) + " is outside [0, " + std::to_string(E) + ")");
    slotsOf[e].push_back(slot);
  }
  std::vector<int> active;
  for (int e = 0; e < E; e++) if (!slotsOf[e].empty()) active.push_back(e);

  // A work item is a block of rows of one expert's matrix, which meets every slot routed to the
  // expert in one kernel call (each group decoded once per four slots). Even, so a block of
  // gate/up rows holds whole (gate, linear) pairs.
  constexpr int kRowBlock = 64;
  // Each expert's inputs (inputOf(slot) for its slots, in slot order), gathered once per phase.
  const auto inputsOfExperts = [&](const auto& inputOf) {
    std::vector<std::vector<std::decay_t<decltype(inputOf(0))>>> inputs(E);
    for (const int e : active) {
      for (const int slot : slotsOf[e]) inputs[e].push_back(inputOf(slot));
    }
    return inputs;
  };
  // dots[r * slots + i] = row (row + r) of expert e's matrix . inputs[i], for `count` rows.
  const auto expertDots = [&](const Mxfp4Weights& matrix, int e, int rowsPerExpert, int groups, int row, int count, const auto& inputs, std::vector<float>& out) {
    using Input = typename std::decay_t<decltype(inputs)>::value_type;
    const int n = static_cast<int>(inputs.size());
    out.resize(static_cast<size_t>(count) * n);
    const size_t first = static_cast<size_t>(e) * rowsPerExpert + row;
    const uint8_t* blocks = matrix.blocks + first * groups * kMxfp4BlockBytes;
    const uint8_t* scales = matrix.scales + first * groups;
    if constexpr (std::is_same_v<Input, Q8Row>) q8Dots(blocks, scales, groups, count, inputs.data(), n, out.data());
    else dots(blocks, scales, groups, count, inputs.data(), n, out.data());
  };
  // Calls phase(inputOf) where inputOf(row) is row `row` of `rows` as the kernels take it: float,
  // or quantized to Q8 blocks.
  const auto withInputs = [&](const std::vector<float>& rows, int width, const auto& phase) {
    if (!p.q8Inputs) return phase([&](int row) { return rows.data() + static_cast<size_t>(row) * width; });
    const Q8Rows q8(rows, width, order == InputOrder::EvenOdd);
    phase([&](int row) { return q8.row(row); });
  };

  // Phase 1: u = W1 x + b1 for the selected experts only, then the clamped alpha-SwiGLU per unit.
  std::vector<float> h(static_cast<size_t>(S) * k * I);
  const float limit = p.swigluLimit, alpha = p.swigluAlpha;
  const int upBlocks = (2 * I + kRowBlock - 1) / kRowBlock;
  withInputs(xs, H, [&](const auto& tokenRow) {
    const auto inputs = inputsOfExperts([&](int slot) { return tokenRow(slot / k); });
    pool()->parallelFor(static_cast<long>(active.size()) * upBlocks, [&](long begin, long end) {
      std::vector<float> dotsOut;
      for (long item = begin; item < end; item++) {
        const int e = active[item / upBlocks];
        const int row = static_cast<int>(item % upBlocks) * kRowBlock;
        const int count = std::min(kRowBlock, 2 * I - row);
        expertDots(p.gateUp, e, 2 * I, groupsUp, row, count, inputs[e], dotsOut);
        const std::vector<int>& slots = slotsOf[e];
        const size_t n = slots.size();
        for (int pair = 0; pair < count; pair += 2) {
          const size_t gateRow = static_cast<size_t>(e) * 2 * I + row + pair;
          const int position = inputPosition((row + pair) / 2, I, order);  // the unit's place in h
          for (size_t i = 0; i < n; i++) {
            float gate = dotsOut[pair * n + i] + p.gateUp.bias[gateRow];
            float linear = dotsOut[(pair + 1) * n + i] + p.gateUp.bias[gateRow + 1];
            // NaN must survive the clamps as it does in the reference (fmin/fmax would drop it).
            const bool poisoned = std::isnan(gate) || std::isnan(linear);
            gate = std::fmin(gate, limit);
            linear = std::fmax(std::fmin(linear, limit), -limit);
            if (poisoned) gate = std::numeric_limits<float>::quiet_NaN();
            const float glu = gate / (1.0f + std::exp(-alpha * gate));
            h[static_cast<size_t>(slots[i]) * I + position] = glu * (linear + 1.0f);
          }
        }
      }
    });
  });

  // Phase 2: y = W2 h + b2 per slot and output row, then each token's experts summed in slot order.
  std::vector<float> y(static_cast<size_t>(S) * k * H);
  const int downBlocks = (H + kRowBlock - 1) / kRowBlock;
  withInputs(h, I, [&](const auto& slotRow) {
    const auto inputs = inputsOfExperts(slotRow);
    pool()->parallelFor(static_cast<long>(active.size()) * downBlocks, [&](long begin, long end) {
      std::vector<float> dotsOut;
      for (long item = begin; item < end; item++) {
        const int e = active[item / downBlocks];
        const int row = static_cast<int>(item % downBlocks) * kRowBlock;
        const int count = std::min(kRowBlock, H - row);
        expertDots(p.down, e, H, groupsDown, row, count, inputs[e], dotsOut);
        const std::vector<int>& slots = slotsOf[e];
        const size_t n = slots.size();
        for (int r = 0; r < count; r++) {
          const float bias = p.down.bias[static_cast<size_t>(e) * H + row + r];
          for (size_t i = 0; i < n; i++) y[static_cast<size_t>(slots[i]) * H + row + r] = dotsOut[r * n + i] + bias;
        }
      }
    });
  });
  for (int t = 0; t < S; t++) {
    for (int r = 0; r < H; r++) {
      float sum = 0.0f;
      for (int j = 0; j < k; j++) sum += p.weights[t * k + j] * y[static_cast<size_t>(t * k + j) * H + r];
      const size_t at = static_cast<size_t>(t) * H + r;
      p.out[at] = p.residual ? p.residual[at] + sum : sum;
    }
  }
}

void mxfp4MatVec(const uint8_t* blocks, const uint8_t* scales, int rows, int cols, const float* x, bool q8Inputs, float* out, Isa isa) {
  const int groups = cols / kMxfp4Block;
  const InputOrder order = mxfp4InputOrder(isa, q8Inputs);
  std::vector<float> xs(cols);
  toInputOrder(x, cols, order, xs.data());
  if (!q8Inputs) {
    const float* input = xs.data();
    mxfp4DotRowsFor(isa)(blocks, scales, groups, rows, &input, 1, out);
    return;
  }
  const Q8Rows q8(xs, cols, order == InputOrder::EvenOdd);
  const Q8Row input = q8.row(0);
  mxfp4DotQ8RowsFor(isa)(blocks, scales, groups, rows, &input, 1, out);
}

void bf16Linear(const Bf16Projection* projections, int count, int cols, const float* x, int tokens, Isa isa) {
  const Bf16DotRows dotRows = bf16DotRowsFor(isa);
  // Rows per kernel call. The kernel walks token blocks outermost, so a block's weight rows
  // (64 x 5.6 KB at the 20b shape) stay in L2 while every 4-token slice of x passes over them:
  // in prefill the weights come from memory once and x from cache once per row block.
  constexpr int kRowBlock = 64;
  long totalRows = 0;
  for (int p = 0; p < count; p++) totalRows += projections[p].rows;
  const auto body = [&](long begin, long end) {
    std::vector<float> dots(static_cast<size_t>(kRowBlock) * tokens);
    int p = 0;
    long first = 0;  // the first row of projection p in [0, totalRows)
    for (long r = begin; r < end;) {
      while (r >= first + projections[p].rows) first += projections[p++].rows;
      const Bf16Projection& proj = projections[p];
      const int row = static_cast<int>(r - first);
      const int block = static_cast<int>(std::min<long>({kRowBlock, end - r, first + proj.rows - r}));
      const uint16_t* rows = proj.w + static_cast<size_t>(row) * cols;
      if (tokens == 1) {
        // One token: the kernel's [block, 1] output is already out's layout (decode's lm_head
        // spent ~3% of a step copying 201,088 dots through the buffer).
        float* out = proj.out + row;
        dotRows(rows, block, cols, x, 1, out);
        if (proj.bias) for (int b = 0; b < block; b++) out[b] += proj.bias[row + b];
        if (proj.residual) for (int b = 0; b < block; b++) out[b] += proj.residual[row + b];
      } else {
        dotRows(rows, block, cols, x, tokens, dots.data());
        for (int b = 0; b < block; b++) {
          for (int t = 0; t < tokens; t++) {
            const size_t at = static_cast<size_t>(t) * proj.rows + row + b;
            const float dot = dots[static_cast<size_t>(b) * tokens + t];
            const float value = proj.bias ? dot + proj.bias[row + b] : dot;
            proj.out[at] = proj.residual ? proj.residual[at] + value : value;
          }
        }
      }
      r += block;
    }
  };
  // Below this many multiply-adds a second thread costs more to wake than it saves (a decode
  // step of small's 512 x 512 projections); lm_head, prefill and the 20b shape are above it.
  constexpr long kParallelMultiplyAdds = 1L << 20;
  if (totalRows * cols * tokens < kParallelMultiplyAdds) body(0, totalRows);
  else pool()->parallelFor(totalRows, body);
}

void bf16MatMul(const uint16_t* w, int rows, int cols, const float* x, int tokens, float* out, Isa isa) {
  const Bf16Projection projection{w, rows, nullptr, nullptr, out};
  bf16Linear(&projection, 1, cols, x, tokens, isa);
}

void bf16GatherRows(const uint16_t* table, int cols, const int32_t* ids, int count, float* out) {
  for (int i = 0; i < count; i++) {
    const uint16_t* row = table + static_cast<size_t>(ids[i]) * cols;
    for (int c = 0; c < cols; c++) out[static_cast<size_t>(i) * cols + c] = bitsToFloat(static_cast<uint32_t>(row[c]) << 16);
  }
}

// NeoX half-split rotary: out[i] = x[i] c - x[i + d/2] s, out[i + d/2] = x[i + d/2] c + x[i] s.
static void rotateHalfSplit(const float* x, const float* cos, const float* sin, int headDim, float* out) {
  const int half = headDim / 2;
  for (int i = 0; i < half; i++) {
    out[i] = x[i] * cos[i] - x[i + half] * sin[i];
    out[i + half] = x[i + half] * cos[i] + x[i] * sin[i];
  }
}

// Eight independent lanes (which the compiler vectorizes without reordering a sum), then the
// lanes in order: a fixed summation order on every machine.
static float laneDot(const float* a, const float* b, int n) {
  constexpr int kLanes = 8;
  float lanes[kLanes] = {};
  int i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; l++) lanes[l] += a[i + l] * b[i + l];
  }
  float total = 0.0f;
  for (int l = 0; l < kLanes; l++) total += lanes[l];
  for (; i < n; i++) total += a[i] * b[i];
  return total;
}

// One query head over its KV head's keys first..total-1: the sink softmax and the context.
struct HeadAttention {
  const float* query;   // [d], rotated
  const float* keys;    // [capacity, d] of the query's KV head
  const float* values;  // [capacity, d]
  int d, first, total;
  float scale, sink;
  float* weights;  // [total] scratch; probabilities in [first, total) on return
  float* context;  // [d] out
};

// The reference: one key at a time, libm exp.
static void headAttentionScalar(const HeadAttention& a) {
  const int d = a.d;
  float max = a.sink;
  for (int j = a.first; j < a.total; j++) {
    a.weights[j] = laneDot(a.query, a.keys + static_cast<size_t>(j) * d, d) * a.scale;
    max = std::max(max, a.weights[j]);
  }
  float denominator = std::exp(a.sink - max);
  for (int j = a.first; j < a.total; j++) {
    a.weights[j] = std::exp(a.weights[j] - max);
    denominator += a.weights[j];
  }
  std::fill(a.context, a.context + d, 0.0f);
  for (int j = a.first; j < a.total; j++) {
    a.weights[j] /= denominator;
    const float* value = a.values + static_cast<size_t>(j) * d;
    for (int i = 0; i < d; i++) a.context[i] += a.weights[j] * value[i];
  }
}

static void headAttentionAvx2(const HeadAttention& a);

void attentionDecode(const AttentionDecode& p, Isa isa) {
  const int d = p.headDim, group = p.heads / p.kvHeads, keysTotal = p.position + 1;
  const int first = p.window > 0 ? std::max(0, p.position - p.window + 1) : 0;
  for (int kh = 0; kh < p.kvHeads; kh++) {
    float* row = p.keys + (static_cast<size_t>(kh) * p.capacity + p.position) * d;
    rotateHalfSplit(p.k + static_cast<size_t>(kh) * d, p.cos, p.sin, d, row);
    std::memcpy(p.values + (static_cast<size_t>(kh) * p.capacity + p.position) * d, p.v + static_cast<size_t>(kh) * d, sizeof(float) * d);
  }
  const auto head = isa == Isa::Scalar ? headAttentionScalar : headAttentionAvx2;
  pool()->parallelFor(p.kvHeads, [&](long begin, long end) {
    std::vector<float> query(d), weights(keysTotal);
    for (long kh = begin; kh < end; kh++) {
      for (int h = static_cast<int>(kh) * group; h < (kh + 1) * group; h++) {
        rotateHalfSplit(p.q + static_cast<size_t>(h) * d, p.cos, p.sin, d, query.data());
        head({query.data(), p.keys + static_cast<size_t>(kh) * p.capacity * d, p.values + static_cast<size_t>(kh) * p.capacity * d, d, first, keysTotal,
              p.scale, p.sinks[h], weights.data(), p.context + static_cast<size_t>(h) * d});
        if (p.probs) {
          float* probs = p.probs + static_cast<size_t>(h) * keysTotal;
          std::fill(probs, probs + first, 0.0f);
          std::copy(weights.begin() + first, weights.begin() + keysTotal, probs + first);
        }
      }
    }
  });
}

void rmsNorm(const float* x, const float* w, int rows, int cols, float eps, float* out) {
  for (int r = 0; r < rows; r++) {
    const float* row = x + static_cast<size_t>(r) * cols;
    double squares = 0;
    for (int c = 0; c < cols; c++) squares += static_cast<double>(row[c]) * row[c];
    const float inverse = static_cast<float>(1.0 / std::sqrt(squares / cols + eps));
    for (int c = 0; c < cols; c++) out[static_cast<size_t>(r) * cols + c] = row[c] * inverse * w[c];
  }
}

LogitStats logitStatsScalar(const float* x, size_t n) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  double max = -std::numeric_limits<double>::infinity();
  long argmax = 0;
  for (size_t i = 0; i < n; i++) {
    if (std::isnan(x[i])) return {kNaN, -1};
    if (x[i] > max) {
      max = x[i];
      argmax = static_cast<long>(i);
    }
  }
  if (std::isinf(max)) return {max, argmax};
  // float exp per term (relative error ~1e-7, far inside the 2e-5 log-prob budget) summed in
  // double; terms below e^-80 of the largest cannot change the sum.
  const float top = static_cast<float>(max);
  double sum = 0;
  for (size_t i = 0; i < n; i++) {
    const float shifted = x[i] - top;
    if (shifted > -80.0f) sum += std::exp(shifted);
  }
  return {max + std::log(sum), argmax};
}

#pragma GCC push_options
#pragma GCC target("avx2,fma")

// e^r for r in [-87.3, 0]: r = k ln2 + f with |f| <= ln2/2 (ln2 split in two so k ln2 is exact
// enough), e^f by its degree-7 Taylor polynomial (truncation < 6e-9 relative), times 2^k.
static inline __m256 expAvx2(__m256 r) {
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(r, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 f = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693145751953125f), r);
  f = _mm256_fnmadd_ps(k, _mm256_set1_ps(1.428606765330187045e-6f), f);
  __m256 p = _mm256_set1_ps(1.0f / 5040);
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 720));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
  const __m256i twoToK = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(twoToK));
}

// e^shifted for shifted <= 0, and 0 where shifted <= -80 (terms that far below the largest cannot
// change a float or double sum of them; expAvx2's range ends at -87.3).
static inline __m256 expAboveFloorAvx2(__m256 shifted) {
  const __m256 floor = _mm256_set1_ps(-80.0f);
  return _mm256_and_ps(expAvx2(_mm256_max_ps(shifted, floor)), _mm256_cmp_ps(shifted, floor, _CMP_GT_OQ));
}

// The first index holding `value`, which x holds (it is x's largest).
static long firstIndexOfAvx2(const float* x, size_t n, float value) {
  const __m256 target = _mm256_set1_ps(value);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const int equal = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), target, _CMP_EQ_OQ));
    if (equal != 0) return static_cast<long>(i + __builtin_ctz(equal));
  }
  for (; i < n; i++) if (x[i] == value) return static_cast<long>(i);
  return 0;
}

LogitStats logitStatsAvx2(const float* x, size_t n) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  __m256 maxes = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  __m256 unordered = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    unordered = _mm256_or_ps(unordered, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    maxes = _mm256_max_ps(maxes, v);
  }
  if (_mm256_movemask_ps(unordered) != 0) return {kNaN, -1};
  float lanes[8];
  _mm256_storeu_ps(lanes, maxes);
  float top = -std::numeric_limits<float>::infinity();
  for (float lane : lanes) top = std::max(top, lane);
  for (size_t j = i; j < n; j++) {
    if (std::isnan(x[j])) return {kNaN, -1};
    top = std::max(top, x[j]);
  }
  const long argmax = firstIndexOfAvx2(x, n, top);
  if (std::isinf(top)) return {top, argmax};
  // As the scalar version: terms below e^-80 of the largest are dropped, the sum is in double.
  const __m256 topVector = _mm256_set1_ps(top);
  __m256d low = _mm256_setzero_pd(), high = _mm256_setzero_pd();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 terms = expAboveFloorAvx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), topVector));
    low = _mm256_add_pd(low, _mm256_cvtps_pd(_mm256_castps256_ps128(terms)));
    high = _mm256_add_pd(high, _mm256_cvtps_pd(_mm256_extractf128_ps(terms, 1)));
  }
  double sums[4];
  _mm256_storeu_pd(sums, _mm256_add_pd(low, high));
  double sum = (sums[0] + sums[1]) + (sums[2] + sums[3]);
  for (size_t j = i; j < n; j++) {
    const float shifted = x[j] - top;
    if (shifted > -80.0f) sum += std::exp(shifted);
  }
  return {static_cast<double>(top) + std::log(sum), argmax};
}

// The dots of q with four keys: each key's products in eight lanes over d, then one hadd tree
// (lanes summed in a fixed order).
static inline __m128 fourDotsAvx2(const float* q, const float* keys, int d) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int i = 0; i < d; i += 8) {
    const __m256 query = _mm256_loadu_ps(q + i);
    for (int k = 0; k < 4; k++) acc[k] = _mm256_fmadd_ps(query, _mm256_loadu_ps(keys + static_cast<size_t>(k) * d + i), acc[k]);
  }
  const __m256 sums = _mm256_hadd_ps(_mm256_hadd_ps(acc[0], acc[1]), _mm256_hadd_ps(acc[2], acc[3]));
  return _mm_add_ps(_mm256_castps256_ps128(sums), _mm256_extractf128_ps(sums, 1));
}

static inline float oneDotAvx2(const float* q, const float* key, int d) {
  __m256 acc = _mm256_setzero_ps();
  for (int i = 0; i < d; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(key + i), acc);
  return horizontalSumAvx2(acc);
}

// context[c, c + 8V) = sum over keys j of weights[j] * values[j][c, c + 8V): V independent FMA chains.
template <int V>
static inline void weightedValuesAvx2(const float* weights, const float* values, int d, int first, int total, int c, float* context) {
  __m256 acc[V];
  for (int v = 0; v < V; v++) acc[v] = _mm256_setzero_ps();
  for (int j = first; j < total; j++) {
    const __m256 weight = _mm256_set1_ps(weights[j]);
    const float* value = values + static_cast<size_t>(j) * d + c;
    for (int v = 0; v < V; v++) acc[v] = _mm256_fmadd_ps(weight, _mm256_loadu_ps(value + 8 * v), acc[v]);
  }
  for (int v = 0; v < V; v++) _mm256_storeu_ps(context + c + 8 * v, acc[v]);
}

// As headAttentionScalar with FMA: four keys' dots at a time, exp by expAvx2 (terms below e^-80
// of the largest dropped, as in logitStatsAvx2), the context in 32-column blocks. Heads whose
// width is not a multiple of 8 take the scalar path.
static void headAttentionAvx2(const HeadAttention& a) {
  const int d = a.d;
  if (d % 8 != 0) return headAttentionScalar(a);
  float* scores = a.weights;
  int j = a.first;
  for (; j + 4 <= a.total; j += 4) {
    _mm_storeu_ps(scores + j, _mm_mul_ps(fourDotsAvx2(a.query, a.keys + static_cast<size_t>(j) * d, d), _mm_set1_ps(a.scale)));
  }
  for (; j < a.total; j++) scores[j] = oneDotAvx2(a.query, a.keys + static_cast<size_t>(j) * d, d) * a.scale;
  float max = a.sink;
  for (j = a.first; j < a.total; j++) max = std::max(max, scores[j]);
  const __m256 top = _mm256_set1_ps(max);
  const auto exps = [&](__m256 score) { return expAboveFloorAvx2(_mm256_sub_ps(score, top)); };
  __m256 sum = _mm256_setzero_ps();
  for (j = a.first; j + 8 <= a.total; j += 8) {
    const __m256 e = exps(_mm256_loadu_ps(scores + j));
    _mm256_storeu_ps(scores + j, e);
    sum = _mm256_add_ps(sum, e);
  }
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  float denominator = _mm_cvtss_f32(_mm256_castps256_ps128(exps(_mm256_set1_ps(a.sink))));
  for (float lane : lanes) denominator += lane;
  for (; j < a.total; j++) {
    scores[j] = _mm_cvtss_f32(_mm256_castps256_ps128(exps(_mm256_set1_ps(scores[j]))));
    denominator += scores[j];
  }
  const __m256 divisor = _mm256_set1_ps(denominator);
  for (j = a.first; j + 8 <= a.total; j += 8) _mm256_storeu_ps(scores + j, _mm256_div_ps(_mm256_loadu_ps(scores + j), divisor));
  for (; j < a.total; j++) scores[j] /= denominator;
  int c = 0;
  for (; c + 32 <= d; c += 32) weightedValuesAvx2<4>(scores, a.values, d, a.first, a.total, c, a.context);
  for (; c < d; c += 8) weightedValuesAvx2<1>(scores, a.values, d, a.first, a.total, c, a.context);
}

#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2")
static uint64_t sumWordsAvx2(const uint64_t* words, size_t count) {
  __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
  size_t i = 0;
  for (; i + 16 <= count; i += 16) {
    for (int a = 0; a < 4; a++) acc[a] = _mm256_add_epi64(acc[a], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(words + i + 4 * a)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi64(_mm256_add_epi64(acc[0], acc[1]), _mm256_add_epi64(acc[2], acc[3])));
  uint64_t total = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (; i < count; i++) total += words[i];
  return total;
}
#pragma GCC pop_options

static uint64_t sumWordsScalar(const uint64_t* words, size_t count) {
  uint64_t total = 0;
  for (size_t i = 0; i < count; i++) total += words[i];
  return total;
}

uint64_t readAll(const uint8_t* bytes, size_t length) {
  const size_t words = length / 8;
  const bool avx2 = detectIsa() != Isa::Scalar;
  constexpr long kChunkWords = 1 << 16;
  const long chunks = static_cast<long>((words + kChunkWords - 1) / kChunkWords);
  std::vector<uint64_t> partial(chunks);
  pool()->parallelFor(chunks, [&](long begin, long end) {
    for (long c = begin; c < end; c++) {
      const uint64_t* start = reinterpret_cast<const uint64_t*>(bytes) + c * kChunkWords;
      const size_t count = std::min<size_t>(kChunkWords, words - c * kChunkWords);
      partial[c] = avx2 ? sumWordsAvx2(start, count) : sumWordsScalar(start, count);
    }
  });
  uint64_t total = 0;
  for (uint64_t value : partial) total += value;
  for (size_t i = words * 8; i < length; i++) total += bytes[i];
  return total;
}

void setThreads(int count) {
  if (count < 1) count = 1;
  if (pool()->size() != count) pool().reset(new ThreadPool(count));
}

int threads() { return pool()->size(); }

}  // namespace cotscope
