// Node bindings for the native kernels. Weights are passed either as typed arrays or as
// { file: MappedFile, offset } references into a memory-mapped safetensors shard (no copy).
#include <fcntl.h>
#include <napi.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "kernels.h"

namespace {

using cotscope::Isa;

class MappedFile : public Napi::ObjectWrap<MappedFile> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "MappedFile",
                       {InstanceAccessor<&MappedFile::ByteLength>("byteLength"), InstanceAccessor<&MappedFile::Path>("path"),
                        InstanceMethod<&MappedFile::Close>("close")});
  }

  explicit MappedFile(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MappedFile>(info) {
    path_ = info[0].As<Napi::String>().Utf8Value();
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Napi::Error::New(info.Env(), "cannot open " + path_ + ": " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      throw Napi::Error::New(info.Env(), "cannot stat " + path_ + ": " + std::strerror(errno));
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* base = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
      if (base == MAP_FAILED) {
        ::close(fd);
        throw Napi::Error::New(info.Env(), "cannot mmap " + path_ + ": " + std::strerror(errno));
      }
      base_ = static_cast<const uint8_t*>(base);
    }
    ::close(fd);
  }

  ~MappedFile() override { Unmap(); }

  const uint8_t* At(Napi::Env env, double offset, size_t length) const {
    if (base_ == nullptr && size_ > 0) throw Napi::Error::New(env, path_ + " is closed");
    if (!(offset >= 0) || offset + static_cast<double>(length) > static_cast<double>(size_)) {
      throw Napi::RangeError::New(env, "bytes [" + std::to_string(offset) + ", +" + std::to_string(length) + ") are outside " + path_);
    }
    return base_ + static_cast<size_t>(offset);
  }

 private:
  Napi::Value ByteLength(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(size_)); }
  Napi::Value Path(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), path_); }
  void Close(const Napi::CallbackInfo&) { Unmap(); }
  void Unmap() {
    if (base_ != nullptr) ::munmap(const_cast<uint8_t*>(base_), size_);
    base_ = nullptr;
  }

  std::string path_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
};

Napi::FunctionReference* mappedFileClass = nullptr;

// Bytes of a weight: a typed array, or { file: MappedFile, offset }. Checks that `length` bytes fit.
const uint8_t* weightBytes(Napi::Env env, Napi::Value value, size_t length, const char* what) {
  if (value.IsTypedArray()) {
    const Napi::TypedArray array = value.As<Napi::TypedArray>();
    if (array.ByteLength() < length) throw Napi::RangeError::New(env, std::string(what) + " holds " + std::to_string(array.ByteLength()) + " bytes, needs " + std::to_string(length));
    return static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  }
  if (value.IsObject()) {
    const Napi::Object ref = value.As<Napi::Object>();
    const Napi::Value file = ref.Get("file");
    if (file.IsObject() && file.As<Napi::Object>().InstanceOf(mappedFileClass->Value())) {
      return MappedFile::Unwrap(file.As<Napi::Object>())->At(env, ref.Get("offset").As<Napi::Number>().DoubleValue(), length);
    }
  }
  throw Napi::TypeError::New(env, std::string(what) + " must be a typed array or { file: MappedFile, offset }");
}

template <typename T, typename Array>
T* typedData(Napi::Env env, Napi::Value value, size_t count, const char* what) {
  if (!value.IsTypedArray()) throw Napi::TypeError::New(env, std::string(what) + " must be a typed array");
  Array array = value.As<Array>();
  if (array.ElementLength() < count) throw Napi::RangeError::New(env, std::string(what) + " has " + std::to_string(array.ElementLength()) + " elements, needs " + std::to_string(count));
  return array.Data();
}

float* floats(Napi::Env env, Napi::Value value, size_t count, const char* what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(env, std::string(what) + " must be a Float32Array");
  }
  return typedData<float, Napi::Float32Array>(env, value, count, what);
}

int32_t* int32s(Napi::Env env, Napi::Value value, size_t count, const char* what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw Napi::TypeError::New(env, std::string(what) + " must be an Int32Array");
  }
  return typedData<int32_t, Napi::Int32Array>(env, value, count, what);
}

int positive(Napi::Env env, Napi::Object args, const char* key) {
  const Napi::Value value = args.Get(key);
  if (!value.IsNumber()) throw Napi::TypeError::New(env, std::string(key) + " must be a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= 1) || number != static_cast<int>(number)) throw Napi::RangeError::New(env, std::string(key) + " must be a positive integer");
  return static_cast<int>(number);
}

// The instruction set named by `value` (undefined: the best one this CPU has).
Isa isaArgument(Napi::Env env, Napi::Value value) {
  const Isa best = cotscope::detectIsa();
  if (value.IsUndefined()) return best;
  const std::string name = value.As<Napi::String>().Utf8Value();
  Isa wanted;
  if (name == "scalar") wanted = Isa::Scalar;
  else if (name == "avx2") wanted = Isa::Avx2;
  else if (name == "avx512") wanted = Isa::Avx512;
  else throw Napi::TypeError::New(env, "unknown instruction set " + name);
  if (static_cast<int>(wanted) > static_cast<int>(best)) throw Napi::Error::New(env, "this CPU does not support " + name);
  return wanted;
}

// The experts' input format: "f32" (default, exact) or "q8" (Q8 blocks, lossy).
bool q8InputsArgument(Napi::Env env, Napi::Value value) {
  if (value.IsUndefined()) return false;
  const std::string name = value.As<Napi::String>().Utf8Value();
  if (name != "f32" && name != "q8") throw Napi::TypeError::New(env, "inputs must be f32 or q8, not " + name);
  return name == "q8";
}

void checkMultipleOfBlock(Napi::Env env, int value, const char* what) {
  if (value % cotscope::kMxfp4Block != 0) throw Napi::RangeError::New(env, std::string(what) + " must be a multiple of 32");
}

// moe({ tokens, hidden, intermediate, experts, k, swigluLimit, swigluAlpha, gateUpBlocks, gateUpScales,
//       gateUpBias, downBlocks, downScales, downBias, x, ids, weights, residual?, out, isa?, inputs? })
Napi::Value Moe(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const Napi::Object a = info[0].As<Napi::Object>();
  cotscope::MoeProblem p{};
  p.tokens = positive(env, a, "tokens");
  p.hidden = positive(env, a, "hidden");
  p.intermediate = positive(env, a, "intermediate");
  p.experts = positive(env, a, "experts");
  p.k = positive(env, a, "k");
  checkMultipleOfBlock(env, p.hidden, "hidden");
  checkMultipleOfBlock(env, p.intermediate, "intermediate");
  p.swigluLimit = a.Get("swigluLimit").As<Napi::Number>().FloatValue();
  p.swigluAlpha = a.Get("swigluAlpha").As<Napi::Number>().FloatValue();
  const size_t E = p.experts, H = p.hidden, I = p.intermediate, S = p.tokens, k = p.k;
  p.gateUp.blocks = weightBytes(env, a.Get("gateUpBlocks"), E * 2 * I * H / 2, "gateUpBlocks");
  p.gateUp.scales = weightBytes(env, a.Get("gateUpScales"), E * 2 * I * H / 32, "gateUpScales");
  p.gateUp.bias = floats(env, a.Get("gateUpBias"), E * 2 * I, "gateUpBias");
  p.down.blocks = weightBytes(env, a.Get("downBlocks"), E * H * I / 2, "downBlocks");
  p.down.scales = weightBytes(env, a.Get("downScales"), E * H * I / 32, "downScales");
  p.down.bias = floats(env, a.Get("downBias"), E * H, "downBias");
  p.x = floats(env, a.Get("x"), S * H, "x");
  p.ids = int32s(env, a.Get("ids"), S * k, "ids");
  p.weights = floats(env, a.Get("weights"), S * k, "weights");
  const Napi::Value residual = a.Get("residual");
  p.residual = residual.IsUndefined() || residual.IsNull() ? nullptr : floats(env, residual, S * H, "residual");
  p.out = floats(env, a.Get("out"), S * H, "out");
  p.q8Inputs = q8InputsArgument(env, a.Get("inputs"));
  try {
    cotscope::moeForward(p, isaArgument(env, a.Get("isa")));
  } catch (const std::out_of_range& error) {
    throw Napi::RangeError::New(env, error.what());
  }
  return env.Undefined();
}

// mxfp4MatVec(blocks, scales, rows, cols, x, isa?, inputs?) -> Float32Array [rows]: one dot product per row.
Napi::Value Mxfp4MatVec(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const int rows = info[2].As<Napi::Number>().Int32Value();
  const int cols = info[3].As<Napi::Number>().Int32Value();
  checkMultipleOfBlock(env, cols, "cols");
  const int groups = cols / cotscope::kMxfp4Block;
  const uint8_t* blocks = weightBytes(env, info[0], static_cast<size_t>(rows) * cols / 2, "blocks");
  const uint8_t* scales = weightBytes(env, info[1], static_cast<size_t>(rows) * groups, "scales");
  const float* x = floats(env, info[4], cols, "x");
  const Isa isa = isaArgument(env, info[5]);
  const bool q8 = q8InputsArgument(env, info[6]);
  Napi::Float32Array out = Napi::Float32Array::New(env, rows);
  cotscope::mxfp4MatVec(blocks, scales, rows, cols, x, q8, out.Data(), isa);
  return out;
}

// quantizeQ8(x, q, d): x [n * 32] into q [n * 32] and d [n] (element order).
Napi::Value QuantizeQ8(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const Napi::Float32Array x = info[0].As<Napi::Float32Array>();
  const int length = static_cast<int>(x.ElementLength());
  checkMultipleOfBlock(env, length, "x length");
  Napi::Int8Array q = info[1].As<Napi::Int8Array>();
  Napi::Float32Array d = info[2].As<Napi::Float32Array>();
  if (q.ElementLength() != x.ElementLength() || d.ElementLength() * cotscope::kMxfp4Block != x.ElementLength()) {
    throw Napi::RangeError::New(env, "q must have x's length and d one value per 32 elements");
  }
  cotscope::quantizeQ8(x.Data(), length, q.Data(), d.Data());
  return env.Undefined();
}

// bf16MatMul(weight, rows, cols, x [tokens, cols], tokens, out [tokens, rows], isa?)
Napi::Value Bf16MatMul(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const int rows = info[1].As<Napi::Number>().Int32Value();
  const int cols = info[2].As<Napi::Number>().Int32Value();
  const int tokens = info[4].As<Napi::Number>().Int32Value();
  if (rows < 1 || cols < 1 || tokens < 1) throw Napi::RangeError::New(env, "rows, cols and tokens must be positive");
  const uint8_t* w = weightBytes(env, info[0], static_cast<size_t>(rows) * cols * 2, "weight");
  const float* x = floats(env, info[3], static_cast<size_t>(tokens) * cols, "x");
  float* out = floats(env, info[5], static_cast<size_t>(tokens) * rows, "out");
  cotscope::bf16MatMul(reinterpret_cast<const uint16_t*>(w), rows, cols, x, tokens, out, isaArgument(env, info[6]));
  return env.Undefined();
}

// bf16Linear({ x [tokens, cols], tokens, cols, projections: [{ weight, rows, bias?, residual?, out }], isa? }):
// out = x W^T + bias (+ residual) for every projection, in one parallel pass.
Napi::Value Bf16Linear(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const Napi::Object a = info[0].As<Napi::Object>();
  const int tokens = positive(env, a, "tokens");
  const int cols = positive(env, a, "cols");
  const float* x = floats(env, a.Get("x"), static_cast<size_t>(tokens) * cols, "x");
  if (!a.Get("projections").IsArray()) throw Napi::TypeError::New(env, "projections must be an array");
  const Napi::Array list = a.Get("projections").As<Napi::Array>();
  std::vector<cotscope::Bf16Projection> projections;
  for (uint32_t i = 0; i < list.Length(); i++) {
    const Napi::Object p = list.Get(i).As<Napi::Object>();
    const int rows = positive(env, p, "rows");
    const size_t outputs = static_cast<size_t>(tokens) * rows;
    const Napi::Value bias = p.Get("bias"), residual = p.Get("residual");
    projections.push_back({reinterpret_cast<const uint16_t*>(weightBytes(env, p.Get("weight"), static_cast<size_t>(rows) * cols * 2, "weight")), rows,
                           bias.IsUndefined() || bias.IsNull() ? nullptr : floats(env, bias, rows, "bias"),
                           residual.IsUndefined() || residual.IsNull() ? nullptr : floats(env, residual, outputs, "residual"),
                           floats(env, p.Get("out"), outputs, "out")});
  }
  cotscope::bf16Linear(projections.data(), static_cast<int>(projections.size()), cols, x, tokens, isaArgument(env, a.Get("isa")));
  return env.Undefined();
}

// bf16GatherRows(table, rows, cols, ids Int32Array, out [ids, cols])
Napi::Value Bf16GatherRows(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const int rows = info[1].As<Napi::Number>().Int32Value();
  const int cols = info[2].As<Napi::Number>().Int32Value();
  const Napi::Int32Array idArray = info[3].As<Napi::Int32Array>();
  const int count = static_cast<int>(idArray.ElementLength());
  const int32_t* ids = int32s(env, info[3], count, "ids");
  for (int i = 0; i < count; i++) {
    if (ids[i] < 0 || ids[i] >= rows) throw Napi::RangeError::New(env, "row " + std::to_string(ids[i]) + " is outside [0, " + std::to_string(rows) + ")");
  }
  const uint8_t* table = weightBytes(env, info[0], static_cast<size_t>(rows) * cols * 2, "table");
  float* out = floats(env, info[4], static_cast<size_t>(count) * cols, "out");
  cotscope::bf16GatherRows(reinterpret_cast<const uint16_t*>(table), cols, ids, count, out);
  return env.Undefined();
}

// attentionDecode({ heads, kvHeads, headDim, position, window, capacity, scale, q, k, v, cos, sin,
//                   sinks, keys, values, context, probs?, isa? }): see cotscope::AttentionDecode.
Napi::Value AttentionDecode(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const Napi::Object a = info[0].As<Napi::Object>();
  cotscope::AttentionDecode p{};
  p.heads = positive(env, a, "heads");
  p.kvHeads = positive(env, a, "kvHeads");
  p.headDim = positive(env, a, "headDim");
  p.capacity = positive(env, a, "capacity");
  p.position = a.Get("position").As<Napi::Number>().Int32Value();
  p.window = a.Get("window").As<Napi::Number>().Int32Value();
  p.scale = a.Get("scale").As<Napi::Number>().FloatValue();
  if (p.heads % p.kvHeads != 0 || p.headDim % 2 != 0) throw Napi::RangeError::New(env, "heads must be a multiple of kvHeads and headDim even");
  if (p.position < 0 || p.position >= p.capacity || p.window < 0) throw Napi::RangeError::New(env, "position must be in [0, capacity) and window >= 0");
  const size_t d = p.headDim, cache = static_cast<size_t>(p.kvHeads) * p.capacity * d;
  p.q = floats(env, a.Get("q"), p.heads * d, "q");
  p.k = floats(env, a.Get("k"), p.kvHeads * d, "k");
  p.v = floats(env, a.Get("v"), p.kvHeads * d, "v");
  p.cos = floats(env, a.Get("cos"), d / 2, "cos");
  p.sin = floats(env, a.Get("sin"), d / 2, "sin");
  p.sinks = floats(env, a.Get("sinks"), p.heads, "sinks");
  p.keys = floats(env, a.Get("keys"), cache, "keys");
  p.values = floats(env, a.Get("values"), cache, "values");
  p.context = floats(env, a.Get("context"), p.heads * d, "context");
  const Napi::Value probs = a.Get("probs");
  p.probs = probs.IsUndefined() || probs.IsNull() ? nullptr : floats(env, probs, static_cast<size_t>(p.heads) * (p.position + 1), "probs");
  cotscope::attentionDecode(p, isaArgument(env, a.Get("isa")));
  return env.Undefined();
}

// rmsNorm(x [rows, cols], weight [cols], rows, cols, eps, out)
Napi::Value RmsNorm(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const int rows = info[2].As<Napi::Number>().Int32Value();
  const int cols = info[3].As<Napi::Number>().Int32Value();
  const float* x = floats(env, info[0], static_cast<size_t>(rows) * cols, "x");
  const float* w = floats(env, info[1], cols, "weight");
  float* out = floats(env, info[5], static_cast<size_t>(rows) * cols, "out");
  cotscope::rmsNorm(x, w, rows, cols, info[4].As<Napi::Number>().FloatValue(), out);
  return env.Undefined();
}

uint16_t* uint16s(Napi::Env env, Napi::Value value, size_t count, const char* what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array) {
    throw Napi::TypeError::New(env, std::string(what) + " must be a Uint16Array");
  }
  return typedData<uint16_t, Napi::Uint16Array>(env, value, count, what);
}

// The F16C path unless the optional third argument is "scalar" or the CPU lacks F16C.
bool useF16c(const Napi::CallbackInfo& info) {
  return cotscope::hasF16c() && !(info.Length() > 2 && info[2].IsString() && info[2].As<Napi::String>().Utf8Value() == "scalar");
}

// f32ToF16(values, out, path?) -> false when a finite value is beyond f16's range (all are converted).
Napi::Value F32ToF16(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const size_t n = info[0].As<Napi::TypedArray>().ElementLength();
  const float* in = floats(env, info[0], n, "values");
  uint16_t* out = uint16s(env, info[1], n, "out");
  return Napi::Boolean::New(env, useF16c(info) ? cotscope::f32ToF16CheckedF16c(in, n, out) : cotscope::f32ToF16Checked(in, n, out));
}

// f16ToF32(bits, out, path?)
Napi::Value F16ToF32(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const size_t n = info[0].As<Napi::TypedArray>().ElementLength();
  const uint16_t* in = uint16s(env, info[0], n, "bits");
  float* out = floats(env, info[1], n, "out");
  if (useF16c(info)) cotscope::f16ToF32F16c(in, n, out);
  else cotscope::f16ToF32(in, n, out);
  return env.Undefined();
}

// logitStats(x, isa?) -> { logSumExp, argmax } (scalar: the libm reference).
Napi::Value LogitStats(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const Napi::Float32Array x = info[0].As<Napi::Float32Array>();
  const bool scalar = isaArgument(env, info[1]) == Isa::Scalar;
  const cotscope::LogitStats stats = scalar ? cotscope::logitStatsScalar(x.Data(), x.ElementLength()) : cotscope::logitStatsAvx2(x.Data(), x.ElementLength());
  Napi::Object result = Napi::Object::New(env);
  result.Set("logSumExp", Napi::Number::New(env, stats.logSumExp));
  result.Set("argmax", Napi::Number::New(env, static_cast<double>(stats.argmax)));
  return result;
}

// readAll(bytes) -> BigInt wrapping sum of the bytes as 64-bit words (bench:bandwidth).
Napi::Value ReadAll(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const Napi::TypedArray array = info[0].As<Napi::TypedArray>();
  const uint8_t* bytes = weightBytes(env, info[0], array.ByteLength(), "bytes");
  return Napi::BigInt::New(env, static_cast<uint64_t>(cotscope::readAll(bytes, array.ByteLength())));
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  cotscope::setThreads(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value Threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), cotscope::threads()); }

Napi::Value BestIsa(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), cotscope::isaName(cotscope::detectIsa())); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  const Napi::Function mapped = MappedFile::Define(env);
  mappedFileClass = new Napi::FunctionReference(Napi::Persistent(mapped));
  exports.Set("MappedFile", mapped);
  exports.Set("moe", Napi::Function::New(env, Moe));
  exports.Set("mxfp4MatVec", Napi::Function::New(env, Mxfp4MatVec));
  exports.Set("quantizeQ8", Napi::Function::New(env, QuantizeQ8));
  exports.Set("bf16MatMul", Napi::Function::New(env, Bf16MatMul));
  exports.Set("bf16Linear", Napi::Function::New(env, Bf16Linear));
  exports.Set("bf16GatherRows", Napi::Function::New(env, Bf16GatherRows));
  exports.Set("rmsNorm", Napi::Function::New(env, RmsNorm));
  exports.Set("attentionDecode", Napi::Function::New(env, AttentionDecode));
  exports.Set("logitStats", Napi::Function::New(env, LogitStats));
  exports.Set("readAll", Napi::Function::New(env, ReadAll));
  exports.Set("f32ToF16", Napi::Function::New(env, F32ToF16));
  exports.Set("f16ToF32", Napi::Function::New(env, F16ToF32));
  exports.Set("hasF16c", Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), cotscope::hasF16c()); }));
  exports.Set("hasAvx512Vnni", Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), cotscope::hasAvx512Vnni()); }));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("threads", Napi::Function::New(env, Threads));
  exports.Set("bestIsa", Napi::Function::New(env, BestIsa));
  return exports;
}

}  // namespace

NODE_API_MODULE(cotscope_native, Init)
