{
  "targets": [
    {
      "target_name": "cotscope_native",
      "sources": ["src/addon.cc", "src/kernels.cc", "src/thread_pool.cc", "src/half.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-fast-math", "-ffp-contract=off", "-Wno-uninitialized", "-Wno-maybe-uninitialized"],
      "cflags_cc!": ["-fno-exceptions"]
    }
  ]
}
