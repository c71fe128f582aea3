// MXFP4 expert and bf16 dense kernels (spec §3, §4.6). Every output element is computed by one
// thread with a fixed summation order, so results do not depend on the thread count.
#pragma once
#include <cstddef>
#include <cstdint>

namespace cotscope {

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

const char* isaName(Isa isa);
// The best instruction set this CPU supports (AVX-512 needs F and BW; AVX2 needs FMA).
Isa detectIsa();

constexpr int kMxfp4Block = 32;
constexpr int kMxfp4BlockBytes = 16;

// 2^(s - 127); s = 0xFF is NaN (OCP MX E8M0).
float e8m0Scale(uint8_t s);

// The order a kernel takes its float inputs in, which is the order its decoder leaves the weights
// in. Element: the scalar code. EvenOdd (AVX-512, and the Q8 path before q8PairOrder): within each
// 32-element group the 16 even elements, then the 16 odd ones, the order of the low and high
// nibbles in the block bytes. Avx2Pairs (the AVX2 float kernel): each pair of groups as its 32-byte
// decoder leaves them, a last unpaired group as the one-group decoder does (inputPosition).
enum class InputOrder { Element, EvenOdd, Avx2Pairs };
InputOrder mxfp4InputOrder(Isa isa, bool q8Inputs);
// Where element i of an n-element input (n a multiple of 32) goes in `order`.
int inputPosition(int i, int n, InputOrder order);
void toInputOrder(const float* x, int n, InputOrder order, float* out);

// Dot product of one MXFP4 row (groups x 16 bytes of nibbles, groups scales) with x in element
// order.
float mxfp4DotScalar(const uint8_t* blocks, const uint8_t* scales, int groups, const float* x);
// out[r * tokens + t] = row r . xs[t] for `rows` consecutive rows and `tokens` inputs in the
// kernel's order (mxfp4InputOrder): each
// group decoded once per block of kMxfp4TokenBlock tokens, each token's result bitwise what it
// gets alone.
constexpr int kMxfp4TokenBlock = 4;
void mxfp4DotRowsAvx2(const uint8_t* blocks, const uint8_t* scales, int groups, int rows, const float* const* xs, int tokens, float* out);
void mxfp4DotRowsAvx512(const uint8_t* blocks, const uint8_t* scales, int groups, int rows, const float* const* xs, int tokens, float* out);

// Q8 inputs (llama.cpp's Q8_0 for its MXFP4 dot, an opt-in lossy path): per block of 32
// elements q = round(x * 127 / max|x|) to nearest even and the step d = max|x| / 127 rounded to
// f16 (so a block whose step is below f16's range has d = 0); a NaN in the block makes d NaN. The dots multiply doubled E2M1 values by q exactly in integers and apply
// d and the E8M0 scale per group in float.
void quantizeQ8(const float* x, int length, int8_t* q, float* d);
struct Q8Row {
  const int8_t* q;  // [groups * 32]
  const float* d;   // [groups]
  // [groups * 8]: q8OffsetCorrection of q, which the AVX-512 VNNI dot needs (others ignore it).
  const int32_t* offsetCorrection;
};
// out[l] = -12 * (q[4l] + q[4l+1] + q[4l+2] + q[4l+3]): the AVX-512 VNNI dot multiplies q by the
// doubled E2M1 values plus 12 (vpdpbusd takes one operand unsigned) and starts each 32-bit lane of
// its sums from this, so the lane ends as the exact dot with the doubled values.
void q8OffsetCorrection(const int8_t* q, int length, int32_t* out);
float mxfp4DotQ8Scalar(const uint8_t* blocks, const uint8_t* scales, int groups, Q8Row x);
// The AVX2 Q8 dot's input order: quantized EvenOdd rows with each pair of groups' halves
// rearranged from [even0, odd0, even1, odd1] to [even0, even1, odd0, odd1] (a last unpaired
// group stays EvenOdd); d stays one value per group in group order.
void q8PairOrder(int8_t* q, int length);
void mxfp4DotQ8RowsAvx2(const uint8_t* blocks, const uint8_t* scales, int groups, int rows, const Q8Row* xs, int tokens, float* out);
// The same dot with AVX-512 VNNI (q8PairOrder inputs; rows whose scales hold 0, 1 or 0xFF go to the
// AVX2 kernel); chosen for Isa::Avx512 on CPUs that have VNNI (hasAvx512Vnni).
void mxfp4DotQ8RowsAvx512Vnni(const uint8_t* blocks, const uint8_t* scales, int groups, int rows, const Q8Row* xs, int tokens, float* out);
bool hasAvx512Vnni();

float bf16DotScalar(const uint16_t* w, const float* x, int n);
float bf16DotAvx2(const uint16_t* w, const float* x, int n);
float bf16DotAvx512(const uint16_t* w, const float* x, int n);
// out[r * tokens + t] = W[r, :] . x[t, :] for W bf16 [rows, cols], x [tokens, cols]: each widened
// weight vector serves up to kBf16TokenBlock tokens, and each token's result is bitwise its
// one-token dot (bf16Dot*), so prefill and decode agree. Token blocks are the outer loop (the
// rows of one call stay in cache across them).
constexpr int kBf16TokenBlock = 4;
void bf16DotRowsScalar(const uint16_t* w, int rows, int cols, const float* x, int tokens, float* out);
void bf16DotRowsAvx2(const uint16_t* w, int rows, int cols, const float* x, int tokens, float* out);
void bf16DotRowsAvx512(const uint16_t* w, int rows, int cols, const float* x, int tokens, float* out);

struct Mxfp4Weights {
  const uint8_t* blocks;  // [E, rows, cols/32, 16]
  const uint8_t* scales;  // [E, rows, cols/32]
  const float* bias;      // [E, rows]
};

struct MoeProblem {
  int tokens, hidden, intermediate, experts, k;
  float swigluLimit, swigluAlpha;
  Mxfp4Weights gateUp;  // rows 2I (interleaved gate, linear), cols H
  Mxfp4Weights down;    // rows H, cols I
  const float* x;       // [S, H] normalized input
  const int32_t* ids;   // [S, k] selected experts
  const float* weights; // [S, k] their routing weights
  const float* residual;  // [S, H] or null: added to the MoE output
  float* out;           // [S, H]
  bool q8Inputs;        // quantize x and the SwiGLU output to Q8 blocks (lossy, faster)
};

// Top-k MoE with the clamped alpha-SwiGLU; only the selected experts' rows are read.
void moeForward(const MoeProblem& p, Isa isa);

// out[r] = row r of an MXFP4 matrix [rows, cols] . x (element order), with `isa`'s kernel, on float
// or Q8 inputs: the MoE's dot products alone, for tests, the self-test and bench:bandwidth.
void mxfp4MatVec(const uint8_t* blocks, const uint8_t* scales, int rows, int cols, const float* x, bool q8Inputs, float* out, Isa isa);

// One weight of a bf16 linear call: out[t, r] = (W[r, :] . x[t, :] + bias[r]) + residual[t, r],
// bias and residual optional, W bf16 [rows, cols], out and residual [tokens, rows].
struct Bf16Projection {
  const uint16_t* w;
  int rows;
  const float* bias;
  const float* residual;
  float* out;
};

// Every projection of one input x [tokens, cols] (q, k and v of a layer) in one parallel pass
// over all their rows.
void bf16Linear(const Bf16Projection* projections, int count, int cols, const float* x, int tokens, Isa isa);

// out[t, r] = W[r, :] . x[t, :] for bf16 W [rows, cols] and float x [tokens, cols].
void bf16MatMul(const uint16_t* w, int rows, int cols, const float* x, int tokens, float* out, Isa isa);

// Rows of a bf16 table [*, cols] as float (exact).
void bf16GatherRows(const uint16_t* table, int cols, const int32_t* ids, int count, float* out);

// One query token of gpt-oss attention (spec §4.4) over a KV cache held by the caller: NeoX
// half-split rotary on q and the new k (cos/sin rows of this position), the new key and value
// written at row `position` of the cache, scaled scores over the visible keys (all before it, or
// the last `window` with itself on sliding layers), softmax with the head's sink logit in the
// denominator, the context sum of p v. Each KV head's query heads run on one thread, sums in a
// fixed order (8 lanes, then the lanes in order), so results do not depend on the thread count.
struct AttentionDecode {
  int heads, kvHeads, headDim;
  int position;   // of the query; keys 0..position are in the cache after the call
  int window;     // keys visible to the query, itself included; 0 = all
  int capacity;   // rows per KV head in keys/values
  float scale;
  const float* q;      // [heads * d], before rotary
  const float* k;      // [kvHeads * d], before rotary
  const float* v;      // [kvHeads * d]
  const float* cos;    // [d / 2] this position's rotary rows
  const float* sin;
  const float* sinks;  // [heads]
  float* keys;         // [kvHeads, capacity, d], rotated
  float* values;       // [kvHeads, capacity, d]
  float* context;      // [heads * d]
  float* probs;        // [heads, position + 1] post-softmax over real keys (0 outside the window), or null
};
// Scalar: libm exp, one key at a time (the reference); AVX2 and AVX-512: the FMA version (kernels.cc).
void attentionDecode(const AttentionDecode& p, Isa isa);

// y = x / sqrt(mean(x^2) + eps) * w per row, the mean in double.
void rmsNorm(const float* x, const float* w, int rows, int cols, float eps, float* out);

// What the sampler needs of a row of logits: log(sum(exp(x))), each exp in float and the sum in
// double (the AVX2 exp is a polynomial within ~2 ulp of the correctly rounded float exp), and the
// first index of the largest value (NaN anywhere: logSumExp NaN, argmax -1).
struct LogitStats {
  double logSumExp;
  long argmax;
};
LogitStats logitStatsScalar(const float* x, size_t n);
LogitStats logitStatsAvx2(const float* x, size_t n);

// Reads every byte once (as 64-bit words, all threads) and returns their wrapping sum: a memory
// read-bandwidth probe that the compiler cannot skip.
uint64_t readAll(const uint8_t* bytes, size_t length);

// IEEE f16 <-> f32, round to nearest even (half.cc). The checked encoders return false when a
// finite value lies beyond f16's range (+-65504); every value is still converted.
uint16_t f32ToF16Scalar(float value);
float f16ToF32Scalar(uint16_t half);
bool hasF16c();
bool f32ToF16Checked(const float* in, size_t n, uint16_t* out);
bool f32ToF16CheckedF16c(const float* in, size_t n, uint16_t* out);
void f16ToF32(const uint16_t* in, size_t n, float* out);
void f16ToF32F16c(const uint16_t* in, size_t n, float* out);

void setThreads(int threads);
int threads();

}  // namespace cotscope
